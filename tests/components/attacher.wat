;; A second component of the `attacher` world, written by hand in the
;; WebAssembly text format: not this project's guest, not Rust. The tests
;; embed the world's WIT into it and wrap it as a component with
;; wit-component, as any toolchain would.
;;
;; Its `handle` logs a line, asks the host to attach the first configured
;; policy and then `AdminPolicy` (which the configuration does not name), and
;; answers 200 `{"written-in":"wat"}` if the first call succeeded and the
;; second was refused with `invalid-request`, else 500.
(module
  ;; attach-policy(policy-name, target) -> result<_, error>, through a return area.
  (import "attach-iot-policy:core/aws@0.2.0" "attach-policy" (func $attach (param i32 i32 i32 i32 i32)))
  ;; write(level, message)
  (import "attach-iot-policy:core/log@0.2.0" "write" (func $log (param i32 i32 i32)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))

  (data (i32.const 16) "AdminPolicy")                                     ;; 11 bytes
  (data (i32.const 32) "us-east-1:00000000-0000-4000-8000-000000000001")  ;; 46 bytes
  (data (i32.const 128) "{\22written-in\22:\22wat\22}")                   ;; 20 bytes
  (data (i32.const 160) "a component written in WAT")                     ;; 26 bytes

  ;; The canonical ABI's allocator: a bump allocator that grows the memory.
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

  ;; handle(event, context, config) -> response. Seventeen flat parameters
  ;; are more than sixteen, so they arrive in memory at $args:
  ;;   event @0, context @8 (request-id @8, cognito-identity @16),
  ;;   config @28 (policy-names @28: ptr, @32: len; attribute-name @36; …).
  ;; The response goes in memory too: status-code @0 (u16), headers @4, body @12.
  (func (export "attach-iot-policy:core/handler@0.2.0#handle") (param $args i32) (result i32)
    (local $policies i32)
    (local $status i32)
    (call $log (i32.const 1) (i32.const 160) (i32.const 26))
    (local.set $policies (i32.load offset=28 (local.get $args)))
    ;; The first configured policy, then one the configuration does not name.
    (call $attach
      (i32.load (local.get $policies)) (i32.load offset=4 (local.get $policies))
      (i32.const 32) (i32.const 46) (i32.const 512))
    (call $attach (i32.const 16) (i32.const 11) (i32.const 32) (i32.const 46) (i32.const 544))
    ;; result<_, error>: 0 is ok; 1 is err, with the error's case at +4 (3 is invalid-request).
    (local.set $status
      (select (i32.const 200) (i32.const 500)
        (i32.and
          (i32.eqz (i32.load8_u (i32.const 512)))
          (i32.and
            (i32.eq (i32.load8_u (i32.const 544)) (i32.const 1))
            (i32.eq (i32.load8_u (i32.const 548)) (i32.const 3))))))
    (i32.store16 (i32.const 1024) (local.get $status))
    (i32.store offset=4 (i32.const 1024) (i32.const 0))
    (i32.store offset=8 (i32.const 1024) (i32.const 0))
    (i32.store offset=12 (i32.const 1024) (i32.const 128))
    (i32.store offset=16 (i32.const 1024) (i32.const 20))
    (i32.const 1024))
)
