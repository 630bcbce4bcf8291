//! The component's heap: wasi-libc's `malloc`, the allocator Rust's std uses
//! on this target, linked from the `libc.a` that ships with it (see
//! `build.rs`). It starts from the free space in the initial memory, so an
//! ordinary invocation never grows the memory; `dlmalloc` the crate grew it on
//! the first allocation of every invocation, which cost the host two
//! `mprotect` calls per invocation. None of these functions imports anything.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

unsafe extern "C" {
    fn malloc(size: usize) -> *mut c_void;
    fn calloc(count: usize, size: usize) -> *mut c_void;
    fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn aligned_alloc(align: usize, size: usize) -> *mut c_void;
    fn free(ptr: *mut c_void);
}

/// What `malloc` aligns to on wasm32 (wasi-libc's dlmalloc: two words).
const MALLOC_ALIGN: usize = 8;

/// When plain `malloc` (and `calloc`, `realloc`) give the alignment needed.
fn malloc_aligns(align: usize, size: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

struct Libc;

#[global_allocator]
static ALLOCATOR: Libc = Libc;

// The same rules as std's `System` allocator on this target.
unsafe impl GlobalAlloc for Libc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe {
            if malloc_aligns(layout.align(), layout.size()) {
                malloc(layout.size()).cast()
            } else {
                aligned_alloc(layout.align(), layout.size()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe {
            if malloc_aligns(layout.align(), layout.size()) {
                calloc(layout.size(), 1).cast()
            } else {
                let ptr = self.alloc(layout);
                if !ptr.is_null() {
                    ptr.write_bytes(0, layout.size());
                }
                ptr
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _: Layout) {
        unsafe { free(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe {
            if malloc_aligns(layout.align(), new_size) {
                realloc(ptr.cast(), new_size).cast()
            } else {
                let new = self.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
                if !new.is_null() {
                    core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}
