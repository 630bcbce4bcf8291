;; A component of another world: it exports `run`, not the attacher's handler.
(module
  (func (export "run") (result i32) (i32.const 42))
)
