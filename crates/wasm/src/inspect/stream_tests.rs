//! The streaming inspection against the in-memory one: same info, digest and
//! errors, with memory bounds small enough that the example components'
//! sections are streamed through stand-ins.

#![allow(clippy::unwrap_used)]

use std::ops::Range;

use wasmparser::{DataKind, Payload};

use super::{Limits, Scanned, Stats, inspect_reader_with};
use crate::error::Error;
use crate::inspect::{inspect, validate};
use wharf_oci::digest::Digest;

/// Small enough that a 300 kB component's data section is streamed.
const SMALL: Limits = Limits { chunk: 4096, section: 4096, whole: 0, workers: None };
/// Byte-by-byte reads, every section over 64 bytes streamed.
const TINY: Limits = Limits { chunk: 1, section: 64, whole: 0, workers: None };
/// Small chunks, but the file kept whole for the full WIT decode.
const WHOLE: Limits = Limits { chunk: 512, section: 1024, whole: u64::MAX, workers: None };

fn scan(bytes: &[u8], limits: Limits) -> crate::error::Result<(Scanned, Stats)> {
    inspect_reader_with("x.wasm", bytes, bytes.len() as u64, limits)
}

/// The (reason, offset) of an invalid-Wasm error, or the success as a string.
fn outcome<T>(result: crate::error::Result<T>) -> std::result::Result<(), (String, usize)> {
    match result {
        Ok(_) => Ok(()),
        Err(Error::InvalidWasm { reason, offset, .. }) => Err((reason, offset)),
        Err(other) => panic!("not an invalid-Wasm error: {other:?}"),
    }
}

fn sized(bytes: usize) -> Vec<u8> {
    wharf_examples::build_sized_component(bytes).unwrap()
}

/// The nested core module's data section: content range, the count's range,
/// and each segment's (whole range, payload range, active).
struct DataLayout {
    section: Range<usize>,
    count: Range<usize>,
    segments: Vec<(Range<usize>, Range<usize>, bool)>,
}

fn data_layout(bytes: &[u8]) -> DataLayout {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let Payload::DataSection(reader) = payload.unwrap() {
            let section = reader.range();
            let section = section.start as usize..section.end as usize;
            let count_start = section.start;
            let segments: Vec<_> = reader
                .into_iter()
                .map(|d| {
                    let d = d.unwrap();
                    let range = d.range.start as usize..d.range.end as usize;
                    let payload = range.end - d.data.len()..range.end;
                    (range, payload, matches!(d.kind, DataKind::Active { .. }))
                })
                .collect();
            let count = count_start..segments[0].0.start;
            return DataLayout { section, count, segments };
        }
    }
    panic!("no data section")
}

/// Rewrites the LEB128 at `at` (keeping its width) with `f(value)`.
fn edit_leb(bytes: &mut [u8], at: Range<usize>, f: impl Fn(u64) -> u64) {
    let mut value = 0u64;
    for (i, b) in bytes[at.clone()].iter().enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
    }
    super::write_padded_leb(&mut bytes[at], f(value));
}

/// Where the header (id, then length) of the section whose content starts at `content` starts.
fn section_header(bytes: &[u8], content: usize) -> usize {
    let mut leb = content - 1;
    while bytes[leb - 1] & 0x80 != 0 {
        leb -= 1;
    }
    leb - 1
}

fn assert_same_as_in_memory(what: &str, bytes: &[u8], limits: Limits) -> Stats {
    let (scanned, stats) = scan(bytes, limits).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(scanned.info, inspect("x.wasm", bytes).unwrap(), "{what}");
    assert_eq!(scanned.digest, Digest::of(bytes), "{what}");
    assert_eq!(scanned.size, bytes.len() as u64, "{what}");
    stats
}

fn assert_same_error(what: &str, bytes: &[u8], limits: Limits) {
    let expected = outcome(validate("x.wasm", bytes));
    assert!(expected.is_err(), "{what}: the in-memory path accepts it");
    assert_eq!(outcome(scan(bytes, limits)), expected, "{what}");
}

#[test]
fn examples_give_the_same_info_and_digest_as_in_memory() {
    let hello = wharf_examples::build_hello_component().unwrap();
    let module = wharf_examples::build_hello_module().unwrap();
    let small = sized(300_000);
    for limits in [Limits::DEFAULT, SMALL, TINY, WHOLE] {
        for (what, bytes) in [("hello", &hello), ("module", &module), ("sized", &small)] {
            assert_same_as_in_memory(&format!("{what} {limits:?}"), bytes, limits);
        }
    }
}

#[test]
fn a_large_data_section_is_streamed_in_bounded_memory() {
    // Over the full-decode limit, like the benchmark components.
    let big = sized(6 << 20);
    let stats = assert_same_as_in_memory("6 MiB, default limits", &big, Limits::DEFAULT);
    assert_eq!(stats.streamed_sections, 1);
    assert!(stats.peak_buffer <= 2 << 20, "{stats:?}");

    let small = sized(300_000);
    let stats = assert_same_as_in_memory("300 kB, small limits", &small, SMALL);
    assert_eq!(stats.streamed_sections, 1, "{stats:?}");
    assert!(stats.peak_buffer < 100 << 10, "{stats:?}");
}

#[test]
fn a_large_custom_section_is_streamed_and_its_name_still_checked() {
    let mut bytes = wharf_examples::build_hello_component().unwrap();
    let name = b"debug-info";
    let contents = vec![7u8; 20_000];
    bytes.push(0);
    let len = 1 + name.len() + contents.len();
    bytes.extend_from_slice(&[(len & 0x7f) as u8 | 0x80, ((len >> 7) & 0x7f) as u8 | 0x80, (len >> 14) as u8]);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(&contents);
    let stats = assert_same_as_in_memory("custom section", &bytes, SMALL);
    assert_eq!(stats.streamed_sections, 1, "{stats:?}");

    // An invalid UTF-8 name is refused at the same offset.
    let name_at = bytes.len() - contents.len() - name.len();
    bytes[name_at] = 0xff;
    assert_same_error("custom section with a bad name", &bytes, SMALL);
}

#[test]
fn not_wasm_files_are_refused_like_in_memory() {
    for bytes in [&b""[..], b"(module)", b"PK\x03\x04 random", b"\0as", b"\0asm\x01\0\0\0\x01\x05"] {
        assert_same_error(&format!("{bytes:?}"), bytes, TINY);
    }
}

#[test]
fn truncated_files_give_the_same_error_as_in_memory() {
    let hello = wharf_examples::build_hello_component().unwrap();
    for len in 0..hello.len() {
        // (Cut after a section, it is a valid, shorter component.)
        let cut = &hello[..len];
        assert_eq!(outcome(scan(cut, TINY)), outcome(validate("x.wasm", cut)), "hello cut at {len}");
    }
    let small = sized(300_000);
    let layout = data_layout(&small);
    let (big_segment, _, _) = layout.segments.last().unwrap().clone();
    let mut cuts: Vec<usize> = (0..small.len()).step_by(4999).collect();
    cuts.extend(layout.section.start.saturating_sub(8)..big_segment.start + 8);
    cuts.extend(layout.section.end - 8..layout.section.end + 8);
    for len in cuts {
        let cut = &small[..len];
        assert_eq!(outcome(scan(cut, SMALL)), outcome(validate("x.wasm", cut)), "sized cut at {len}");
    }
}

#[test]
fn a_bad_data_section_gives_the_same_error_as_in_memory() {
    let good = sized(300_000);
    let layout = data_layout(&good);
    let (big, big_payload, _) = layout.segments.last().unwrap().clone();
    let big_len_at = big.start + 1..big_payload.start; // passive: flags byte, then the length
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();

    let mut bytes = good.clone();
    bytes[big.start] = 3;
    cases.push(("invalid segment flags", bytes));

    let mut bytes = good.clone();
    edit_leb(&mut bytes, big_len_at.clone(), |n| n + 1);
    cases.push(("payload past the section end", bytes));

    let mut bytes = good.clone();
    edit_leb(&mut bytes, big_len_at.clone(), |n| n - 1);
    cases.push(("a byte after the last segment", bytes));

    let mut bytes = good.clone();
    edit_leb(&mut bytes, layout.count.clone(), |n| n + 1);
    cases.push(("one segment more counted than present", bytes));

    let mut bytes = good.clone();
    edit_leb(&mut bytes, layout.count.clone(), |n| n - 1);
    cases.push(("one segment less counted than present", bytes));

    if let Some((first, _, true)) = layout.segments.first().cloned() {
        // Active, memory 0: flags 0, then `i32.const N end`; make it i64.const.
        let mut bytes = good.clone();
        assert_eq!(bytes[first.start + 1], 0x41);
        bytes[first.start + 1] = 0x42;
        cases.push(("offset expression of the wrong type", bytes));
        let mut bytes = good.clone();
        bytes[first.start + 1] = 0x00;
        cases.push(("offset expression that is not constant", bytes));
    }

    let header_at = section_header(&good, layout.section.start);
    let mut bytes = good.clone();
    edit_leb(&mut bytes, header_at + 1..layout.section.start, |n| n + 10);
    cases.push(("section longer than its module", bytes));

    for (what, bytes) in &cases {
        assert_same_error(what, bytes, SMALL);
    }

    // Every single-byte change in the section's framing and segment headers.
    let sweep = header_at..big_payload.start + 2;
    for at in sweep.chain(layout.section.end - 2..layout.section.end) {
        for value in [0x00, 0x01, 0x02, 0x0b, 0x41, 0x7f, 0x80, 0xff] {
            let mut bytes = good.clone();
            if bytes[at] == value {
                continue;
            }
            bytes[at] = value;
            let expected = outcome(validate("x.wasm", &bytes));
            assert_eq!(outcome(scan(&bytes, SMALL)), expected, "byte {at} set to {value:#x}");
        }
    }
}

/// A core module with `segments` data segments (text format, one per line).
fn module_with_data(segments: &[String]) -> Vec<u8> {
    let wat = format!(
        "(module (memory 1) (func (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 0))) {})",
        segments.join(" ")
    );
    wat::parse_str(wat).unwrap()
}

#[test]
fn top_level_module_data_sections_of_every_shape_are_streamed() {
    let big_active = format!("(data (i32.const 16) \"{}\")", "\\2a".repeat(10_000));
    let empty = |n: usize| vec!["(data \"\")".to_string(); n];
    let mut cases: Vec<(&str, Vec<String>)> = vec![("active and passive", vec![big_active, "(data \"xyz\")".into()])];
    // Empty segments: the stand-in is as long as the section (no filler).
    cases.push(("3000 empty segments", empty(3000)));
    // One and two payload bytes: too few for a filler section; the stand-in
    // widens a length instead.
    for payload in ["a", "ab"] {
        let mut segments = empty(3000);
        segments.push(format!("(data \"{payload}\")"));
        cases.push((if payload.len() == 1 { "one byte short" } else { "two bytes short" }, segments));
    }
    for (what, segments) in cases {
        let module = module_with_data(&segments);
        let stats = assert_same_as_in_memory(what, &module, SMALL);
        assert_eq!(stats.streamed_sections, 1, "{what}");
        // The data count section says one segment more: same error, same offset.
        let mut wrong_count = segments.clone();
        wrong_count.truncate(segments.len() - 1);
        let mut bytes = module_with_data(&wrong_count);
        let count = data_count_range(&bytes);
        edit_leb(&mut bytes, count, |n| n + 1);
        if let Err(e) = validate("x.wasm", &bytes) {
            assert!(e.to_string().contains("data count"), "{what}: {e}");
        }
        assert_same_error(&format!("{what}, wrong data count"), &bytes, SMALL);
    }
}

/// Where the data count section's count is.
fn data_count_range(bytes: &[u8]) -> Range<usize> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let Payload::DataCountSection { range, .. } = payload.unwrap() {
            return range.start as usize..range.end as usize;
        }
    }
    panic!("no data count section")
}

/// A core module of `count` functions of about 250 bytes of valid code each
/// (a code section over the parallel threshold), except the `bad` ones, whose
/// result is an `i64` where an `i32` is declared.
fn many_functions(count: usize, bad: &[usize]) -> Vec<u8> {
    let mut text = String::from("(module\n");
    let filler = "i32.const 7 local.set 0 ".repeat(60);
    for i in 0..count {
        let result = if bad.contains(&i) { "i64.const 0" } else { "i32.const 1" };
        text.push_str(&format!("(func (result i32) (local i32) {filler} {result})\n"));
    }
    text.push(')');
    wat::parse_str(&text).unwrap()
}

fn with_workers(workers: usize) -> Limits {
    Limits { workers: Some(workers), ..Limits::DEFAULT }
}

/// Bodies validated on worker threads give the sequential validator's error:
/// the first invalid function by offset, with its reason, whichever worker
/// finds which first; a valid module passes, through the workers.
#[test]
fn parallel_body_validation_reports_the_first_invalid_function_as_the_sequential_validator() {
    let valid = many_functions(5000, &[]);
    let (_, stats) = scan(&valid, with_workers(4)).unwrap();
    assert_eq!(stats.parallel_sections, 1, "the code section went to the workers");
    let (_, stats) = scan(&valid, with_workers(1)).unwrap();
    assert_eq!(stats.parallel_sections, 0, "one worker: inline");

    for bad in [vec![4999], vec![2500, 4200], vec![10, 11, 4000], vec![0]] {
        let bytes = many_functions(5000, &bad);
        let sequential = outcome(validate("x.wasm", &bytes));
        assert!(sequential.is_err(), "{bad:?}");
        assert_eq!(outcome(scan(&bytes, with_workers(1))), sequential, "inline, bad {bad:?}");
        for _ in 0..4 {
            assert_eq!(outcome(scan(&bytes, with_workers(4))), sequential, "4 workers, bad {bad:?}");
            assert_eq!(outcome(scan(&bytes, with_workers(2))), sequential, "2 workers, bad {bad:?}");
        }
    }
}

/// A small code section is validated inline even with workers at hand.
#[test]
fn a_small_code_section_is_validated_inline() {
    let bytes = many_functions(20, &[]);
    let (_, stats) = scan(&bytes, with_workers(4)).unwrap();
    assert_eq!(stats.parallel_sections, 0);
}
