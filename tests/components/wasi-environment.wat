;; A component of the `attacher` world that also imports WASI: it asks for the
;; environment and answers 200 plus the number of variables it was given.
;; A deny-all WASI gives it none.
(module
  ;; get-environment() -> list<tuple<string, string>>, through a return area.
  (import "wasi:cli/environment@0.2.0" "get-environment" (func $environment (param i32)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (block $enough
      (loop $grow
        (br_if $enough (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
        (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
        (br $grow)))
    (if (local.get $old_size) (then (memory.copy (local.get $ptr) (local.get $old) (local.get $old_size))))
    (local.get $ptr))

  (func (export "attach-iot-policy:core/handler@0.2.0#handle") (param $args i32) (result i32)
    (call $environment (i32.const 512))
    ;; The list's length is at +4 of the return area.
    (i32.store16 (i32.const 1024) (i32.add (i32.const 200) (i32.load offset=4 (i32.const 512))))
    (i32.store offset=4 (i32.const 1024) (i32.const 0))
    (i32.store offset=8 (i32.const 1024) (i32.const 0))
    (i32.store offset=12 (i32.const 1024) (i32.const 0))
    (i32.store offset=16 (i32.const 1024) (i32.const 0))
    (i32.const 1024))
)
