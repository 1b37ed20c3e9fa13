;; A plain core WebAssembly module (not a component), used by wharf's
;; "core module" tests (os: wasip1). No imports.
(module
  (memory (export "memory") 1)
  (func (export "add") (param $a i32) (param $b i32) (result i32)
    (i32.add (local.get $a) (local.get $b)))
)
