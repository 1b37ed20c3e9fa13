;; Exports only `version`: checked against filter-plugin, the filter export is missing.
(module
  (func (export "version") (result i32) (i32.const 1))
)
