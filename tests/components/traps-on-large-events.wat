;; A component of the `attacher` world that traps on purpose: it answers 200
;; `{"written-in":"wat"}` to an event of up to 64 KiB, and hits `unreachable`
;; on a larger one. It shows, under a real Runtime API, that a trap is that
;; invocation's 500 and the next invocation runs.
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 128) "{\22written-in\22:\22wat\22}")  ;; 20 bytes

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

  ;; The event's length is at +4 of the parameter area (see attacher.wat).
  (func (export "attach-iot-policy:core/handler@0.2.0#handle") (param $args i32) (result i32)
    (if (i32.gt_u (i32.load offset=4 (local.get $args)) (i32.const 65536)) (then unreachable))
    (i32.store16 (i32.const 1024) (i32.const 200))
    (i32.store offset=4 (i32.const 1024) (i32.const 0))
    (i32.store offset=8 (i32.const 1024) (i32.const 0))
    (i32.store offset=12 (i32.const 1024) (i32.const 128))
    (i32.store offset=16 (i32.const 1024) (i32.const 20))
    (i32.const 1024))
)
