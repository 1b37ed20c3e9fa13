;; The mismatching plug: exports name-source with get-name: func() -> u32
;; (../wit-u32), so it cannot satisfy the greeter's import.
(module
  (func (export "wharf:compose/name-source@0.1.0#get-name") (result i32)
    (i32.const 42))
)
