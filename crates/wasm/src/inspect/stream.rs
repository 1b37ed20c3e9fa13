//! Validating and describing a WebAssembly file in one pass over a reader,
//! in bounded chunks, hashing it (SHA-256) on the way: `wharf push` never
//! holds a large artifact in memory.
//!
//! wasmparser parses incrementally: it streams code sections function by
//! function and enters nested modules and components without their whole
//! section, but wants every other section whole. A large component is mostly
//! one data section (or a large custom section, such as debug info), so those
//! two are streamed here instead. When one is larger than `Limits::section`,
//! its bytes are read and hashed but not kept, and the parser and validator
//! are handed an equivalent section of the same total length:
//! - a data section becomes the same segments (flags, memory index, offset
//!   expression, byte for byte) with empty payloads (validation never looks at
//!   the payload bytes), followed by empty-named custom sections filling the
//!   rest of the length;
//! - a custom section keeps its name and loses its contents (filler again).
//!
//! Every other offset stays the real one, and errors inside a stand-in data
//! section are mapped back to the real file, so errors read as they do for
//! the in-memory `validate`. One difference: function bodies are
//! validated as they arrive, where `validate_all` validates them after the last
//! section, so a binary with an invalid function body AND a later malformed
//! section reports the body here and the section there.

use std::io::Read;

use wasmparser::{
    BinaryReader, BinaryReaderError, Chunk, ConstExpr, Encoding, Parser, Payload, ValidPayload, Validator, WasmFeatures,
};

use super::bodies::Bodies;
use super::{FULL_DECODE_LIMIT, Metadata, WasmInfo, WasmKind};
use crate::error::{Error, Result};
use wharf_oci::digest::{Digest, Digester};

/// What one pass over a WebAssembly file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// What inspection found (the same as [`super::inspect`] on the whole file).
    pub info: WasmInfo,
    /// SHA-256 of every byte read.
    pub digest: Digest,
    /// Number of bytes read.
    pub size: u64,
}

/// Memory bounds of a scan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Bytes asked from the reader at a time.
    pub chunk: usize,
    /// Data and custom sections larger than this are streamed, not buffered.
    pub section: usize,
    /// Files up to this size are also kept whole, for the full WIT decode and
    /// metadata read of [`super::inspect`].
    pub whole: u64,
    /// Threads that validate the bodies of a large code section (`None`: one per core; 1: inline).
    pub workers: Option<usize>,
}

impl Limits {
    /// 1 MiB chunks and sections; whole files up to [`FULL_DECODE_LIMIT`].
    pub const DEFAULT: Limits =
        Limits { chunk: 1 << 20, section: 1 << 20, whole: FULL_DECODE_LIMIT as u64, workers: None };
}

/// Custom sections wasm-metadata reads (top level only).
const METADATA_SECTIONS: &[&str] = &[
    "name",
    "component-name",
    "producers",
    "authors",
    "description",
    "licenses",
    "source",
    "homepage",
    "revision",
    "version",
    ".dep-v0",
];

/// Largest top-level metadata section read whole (larger ones are streamed, with a warning).
const METADATA_MAX: u64 = 1 << 20;
/// Longest custom section name streamed; a section with a longer one is buffered.
const NAME_MAX: usize = 4096;
/// Bytes kept resident while reading one data segment's header.
const SEGMENT_HEADER_WINDOW: usize = 64 << 10;
/// Largest filler custom section handed to the parser at once.
const FILLER_MAX: usize = 256 << 10;

const CUSTOM_SECTION: u8 = 0;
const DATA_SECTION: u8 = 11;

/// Validates and describes the `size` bytes of `reader` (a file named `name`
/// in errors) and hashes them, in one pass and bounded memory. The result is
/// what [`super::inspect`] and [`Digest::of`] give for the whole file.
pub fn inspect_reader(name: &str, reader: impl Read, size: u64) -> Result<Scanned> {
    inspect_reader_with(name, reader, size, Limits::DEFAULT).map(|(scanned, _)| scanned)
}

/// [`inspect_reader`] with every function body validated on this thread: for a
/// scan that runs beside other work (a push uploading meanwhile), where worker
/// threads would take CPU from it (measured slower on 2 cores: docs/benchmarks.md).
pub fn inspect_reader_inline(name: &str, reader: impl Read, size: u64) -> Result<Scanned> {
    let limits = Limits { workers: Some(1), ..Limits::DEFAULT };
    inspect_reader_with(name, reader, size, limits).map(|(scanned, _)| scanned)
}

/// How a scan went, for tests.
#[derive(Debug, Clone, Copy, Default)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Stats {
    /// Data and custom sections streamed through stand-ins.
    pub streamed_sections: usize,
    /// Most bytes the read buffer held at once.
    pub peak_buffer: usize,
    /// Code sections whose bodies were validated on worker threads.
    pub parallel_sections: usize,
}

/// [`inspect_reader`] with explicit memory bounds.
pub(crate) fn inspect_reader_with(
    name: &str,
    reader: impl Read,
    size: u64,
    limits: Limits,
) -> Result<(Scanned, Stats)> {
    let whole = (size <= limits.whole).then(|| Vec::with_capacity(usize::try_from(size).unwrap_or(0)));
    let mut input = Input {
        reader,
        name: name.to_string(),
        buf: Vec::new(),
        pos: 0,
        start: 0,
        eof: false,
        digester: Digester::default(),
        whole,
        chunk: limits.chunk.max(1),
        peak: 0,
    };
    input.fill(8)?;
    if let Some(reason) = super::not_wasm(input.data()) {
        return Err(Error::InvalidWasm { path: name.to_string(), reason, offset: 0 });
    }
    let mut scan = Scan { input, state: State::new(name, size, limits) };
    scan.run()?;
    scan.finish()
}

/// The bytes read so far and not yet consumed, hashed as they are read.
struct Input<R> {
    reader: R,
    name: String,
    buf: Vec<u8>,
    /// First unconsumed byte of `buf`.
    pos: usize,
    /// File offset of `buf[0]`.
    start: u64,
    /// The reader has no more bytes.
    eof: bool,
    digester: Digester,
    /// A copy of the whole file, for small files.
    whole: Option<Vec<u8>>,
    chunk: usize,
    /// Most bytes `buf` held.
    peak: usize,
}

impl<R: Read> Input<R> {
    /// File offset of the first unconsumed byte.
    fn offset(&self) -> u64 {
        self.start + self.pos as u64
    }

    /// The unconsumed bytes.
    fn data(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// True when every byte of the file is in [`Input::data`].
    fn at_eof(&self) -> bool {
        self.eof
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Reads until at least `want` unconsumed bytes are resident, or the end.
    fn fill(&mut self, want: usize) -> Result<()> {
        if self.buf.len() - self.pos >= want || self.eof {
            return Ok(());
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.start += self.pos as u64;
            self.pos = 0;
        }
        while self.buf.len() < want && !self.eof {
            let old = self.buf.len();
            self.buf.resize(old + self.chunk.max(want - old), 0);
            let read = loop {
                match self.reader.read(&mut self.buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(old);
                        return Err(Error::io("cannot read", self.name.clone(), e));
                    }
                }
            };
            self.peak = self.peak.max(self.buf.len());
            self.buf.truncate(old + read);
            self.eof = read == 0;
            self.digester.update(&self.buf[old..]);
            if let Some(whole) = &mut self.whole {
                whole.extend_from_slice(&self.buf[old..]);
            }
        }
        Ok(())
    }

    /// Consumes `n` bytes, reading (and hashing) the ones not yet resident.
    fn skip(&mut self, mut n: u64) -> Result<()> {
        loop {
            let here = usize::try_from(n).unwrap_or(usize::MAX).min(self.buf.len() - self.pos);
            self.consume(here);
            n -= here as u64;
            if n == 0 {
                return Ok(());
            }
            if self.eof {
                return Err(Error::InvalidWasm {
                    path: self.name.clone(),
                    reason: "unexpected end-of-file".into(),
                    offset: usize::try_from(self.offset()).unwrap_or(usize::MAX),
                });
            }
            self.fill(1)?;
        }
    }
}

/// One module or component being parsed.
struct Level {
    parser: Parser,
    encoding: Option<Encoding>,
    /// Where the next section header starts, when the parser is between sections.
    next_section: Option<u64>,
    /// Its end: the end of its section in the parent, or of the file.
    end: u64,
}

/// Everything but the input: parsers, validator, what was found.
struct State {
    name: String,
    limits: Limits,
    validator: Validator,
    /// Where function bodies are validated (inline, or on workers for a large code section).
    bodies: Bodies,
    level: Level,
    parents: Vec<Level>,
    kind: Option<WasmKind>,
    imports: Vec<String>,
    exports: Vec<String>,
    /// The header and the small top-level custom sections wasm-metadata reads.
    metadata_wasm: Vec<u8>,
    warnings: Vec<String>,
    streamed_sections: usize,
    done: bool,
}

struct Scan<R> {
    input: Input<R>,
    state: State,
}

/// Maps offsets in a stand-in section back to the real file: sorted
/// `(stand-in offset, real offset)` points, linear after each.
type OffsetMap = Vec<(u64, u64)>;

impl<R: Read> Scan<R> {
    /// Every section, then every function body still being validated: of
    /// two errors, the one earlier in the file (as a sequential validation finds it).
    fn run(&mut self) -> Result<()> {
        let sections = self.sections();
        match (sections, self.state.bodies.finish()) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), Ok(())) => Err(e),
            (Err(Error::InvalidWasm { path, reason, offset }), Err(body)) if offset as u64 <= body.offset() => {
                Err(Error::InvalidWasm { path, reason, offset })
            }
            (_, Err(body)) => Err(self.state.invalid(&body)),
        }
    }

    fn sections(&mut self) -> Result<()> {
        while !self.state.done {
            if self.state.between_sections(self.input.offset()) && self.stream_large_section()? {
                continue;
            }
            self.parse_next()?;
        }
        Ok(())
    }

    /// Parses the next payload from the input, reading more when needed.
    fn parse_next(&mut self) -> Result<()> {
        let (data, eof) = (&self.input.buf[self.input.pos..], self.input.eof);
        let needs = match self.state.level.parser.parse(data, eof) {
            Ok(Chunk::Parsed { consumed, payload }) => {
                self.state.handle(payload, &data[..consumed], None)?;
                self.input.consume(consumed);
                return Ok(());
            }
            Ok(Chunk::NeedMoreData(hint)) => hint,
            Err(e) => return Err(self.state.invalid(&e)),
        };
        let wanted_end = self.input.offset() + (data.len() + needs) as u64;
        if wanted_end > self.state.level.end {
            // Even the whole file could not satisfy this read: the parser's
            // error for it is the same without reading the rest.
            return match self.state.level.parser.parse(data, true) {
                Ok(Chunk::Parsed { consumed, payload }) => {
                    self.state.handle(payload, &data[..consumed], None)?;
                    self.input.consume(consumed);
                    Ok(())
                }
                Ok(Chunk::NeedMoreData(_)) => self.input.fill(data.len() + 1),
                Err(e) => Err(self.state.invalid(&e)),
            };
        }
        let want = data.len() + needs;
        self.input.fill(want)
    }

    /// Streams the data or custom section starting here if it is large;
    /// false if it is not one (the parser then reads it as usual).
    fn stream_large_section(&mut self) -> Result<bool> {
        self.input.fill(6)?;
        if self.input.data().starts_with(b"\0asm") {
            return Ok(false); // the parser names this one
        }
        let start = self.input.offset();
        let mut reader = BinaryReader::new(self.input.data(), start);
        let (Ok(id), Ok(len)) = (reader.read_u8(), reader.read_var_u32()) else { return Ok(false) };
        let header_len = reader.current_position();
        let end = start + header_len as u64 + u64::from(len);
        if (len as usize) <= self.state.limits.section || end > self.state.level.end {
            return Ok(false);
        }
        match (id, self.state.level.encoding) {
            (DATA_SECTION, Some(Encoding::Module)) => self.stream_data_section(header_len, end),
            (CUSTOM_SECTION, _) => self.stream_custom_section(header_len, end),
            _ => Ok(false),
        }
    }

    /// A large custom section: its name is checked (and kept), its contents
    /// are read, hashed and dropped.
    fn stream_custom_section(&mut self, header_len: usize, end: u64) -> Result<bool> {
        let start = self.input.offset();
        self.input.fill(header_len + 5 + NAME_MAX)?;
        let content = header_len..self.input.data().len().min(usize::try_from(end - start).unwrap_or(usize::MAX));
        let mut reader = BinaryReader::new(&self.input.data()[content.clone()], start + header_len as u64);
        let Ok(name_len) = reader.read_var_u32() else { return Ok(false) };
        let name_part = reader.current_position() + name_len as usize;
        if name_part > NAME_MAX || name_part > content.len() {
            return Ok(false);
        }
        let mut piece = vec![CUSTOM_SECTION];
        push_padded_leb(&mut piece, name_part as u64, header_len - 1);
        piece.extend_from_slice(&self.input.data()[header_len..header_len + name_part]);
        let name = String::from_utf8_lossy(
            &self.input.data()[header_len + name_part - name_len as usize..header_len + name_part],
        )
        .into_owned();
        let metadata = self.state.parents.is_empty() && METADATA_SECTIONS.contains(&name.as_str());
        if metadata && end - start <= METADATA_MAX {
            return Ok(false); // read whole, for wasm-metadata
        }
        if matches!((end - start) - piece.len() as u64, 1 | 2) {
            return Ok(false);
        }
        self.state.feed(&piece, None)?;
        if metadata {
            self.state.warnings.push(format!(
                "the top-level `{name}` custom section ({} bytes) is too large to read for the metadata",
                end - start
            ));
        }
        self.input.skip(end - start)?;
        self.state.fill_to(start + piece.len() as u64, end)?;
        self.state.streamed_sections += 1;
        Ok(true)
    }

    /// A large data section: each segment's header is kept, its payload is
    /// read, hashed and dropped; the parser and validator get the segments
    /// with empty payloads, then filler up to the real end.
    fn stream_data_section(&mut self, header_len: usize, end: u64) -> Result<bool> {
        let start = self.input.offset();
        let content_start = start + header_len as u64;
        self.input.fill(header_len + 5)?;
        let data = self.input.data();
        let mut reader = BinaryReader::new(&data[header_len..data.len().min(header_len + 5)], content_start);
        let Ok(count) = reader.read_var_u32() else { return Ok(false) };
        let count_len = reader.current_position();

        let mut stand_in = vec![DATA_SECTION];
        push_padded_leb(&mut stand_in, 0, header_len - 1);
        stand_in.extend_from_slice(&data[header_len..header_len + count_len]);
        let mut map: OffsetMap = vec![(start, start)];
        self.input.consume(header_len + count_len);

        let mut failure = None;
        for _ in 0..count {
            match self.segment_header(end)? {
                Ok((prefix_len, header_len, payload_len)) => {
                    let real = self.input.offset();
                    map.push((start + stand_in.len() as u64, real));
                    stand_in.extend_from_slice(&self.input.data()[..prefix_len]);
                    stand_in.push(0);
                    let payload_start = real + header_len as u64;
                    if u64::from(payload_len) > end - payload_start {
                        failure = Some(("unexpected end-of-file".to_string(), payload_start));
                        break;
                    }
                    self.input.consume(header_len);
                    self.input.skip(u64::from(payload_len))?;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let here = self.input.offset();
        if failure.is_none() && here != end {
            failure = Some(("section size mismatch: unexpected data at the end of the section".into(), here));
        }
        let gap = (end - start).saturating_sub(stand_in.len() as u64);
        if failure.is_none() && (gap == 1 || gap == 2) {
            // Too small for a filler section: widen the last empty length instead.
            stand_in.pop();
            stand_in.extend_from_slice(if gap == 1 { &[0x80, 0x00] } else { &[0x80, 0x80, 0x00] });
        }
        let body_len = (stand_in.len() - header_len) as u64;
        write_padded_leb(&mut stand_in[1..header_len], body_len);
        let stand_in_end = start + stand_in.len() as u64;
        map.push((stand_in_end, if failure.is_none() { end } else { here }));

        let checked = self.state.feed(&stand_in, Some(&map));
        match (checked, failure) {
            (Err(e), Some((reason, offset))) => match e {
                // An error inside the segments read comes first in the file.
                Error::InvalidWasm { offset: at, .. } if (at as u64) < here => Err(e),
                _ => Err(self.state.invalid_at(reason, offset)),
            },
            (Err(e), None) => Err(e),
            (Ok(()), Some((reason, offset))) => Err(self.state.invalid_at(reason, offset)),
            (Ok(()), None) => {
                self.state.fill_to(stand_in_end, end)?;
                self.state.streamed_sections += 1;
                Ok(true)
            }
        }
    }

    /// Reads the header of the data segment starting at the input (flags,
    /// memory index, offset expression, payload length) the way wasmparser
    /// does: `(bytes before the length, bytes of the header, payload length)`,
    /// or the error and its offset.
    fn segment_header(&mut self, end: u64) -> Result<SegmentHeader> {
        let mut window = SEGMENT_HEADER_WINDOW;
        loop {
            let left = usize::try_from(end - self.input.offset()).unwrap_or(usize::MAX);
            self.input.fill(window.min(left))?;
            let resident = self.input.data().len().min(left);
            let mut reader = BinaryReader::new(&self.input.data()[..resident], self.input.offset());
            reader.set_features(WasmFeatures::default());
            match read_segment_header(&mut reader) {
                Ok((prefix_len, payload_len)) => {
                    return Ok(Ok((prefix_len, reader.current_position(), payload_len)));
                }
                Err(_) if resident < left && !self.input.at_eof() => window = window.saturating_mul(2),
                Err(e) => return Ok(Err(e)),
            }
        }
    }

    fn finish(self) -> Result<(Scanned, Stats)> {
        let Scan { input, state } = self;
        let stats = Stats {
            streamed_sections: state.streamed_sections,
            peak_buffer: input.peak,
            parallel_sections: state.bodies.pooled,
        };
        let kind = state.kind.unwrap_or(WasmKind::Module);
        let info = match &input.whole {
            Some(bytes) => super::describe(kind, bytes),
            None => state.describe(kind),
        };
        let size = input.digester.len();
        Ok((Scanned { info, digest: input.digester.finish(), size }, stats))
    }
}

/// A data segment's header, or why it is malformed (reason, offset).
type SegmentHeader = std::result::Result<(usize, usize, u32), (String, u64)>;

/// Reads a data segment's header up to and including its payload length, as
/// `Data::from_reader` does, with the same errors: `(bytes before the length,
/// payload length)`.
fn read_segment_header(reader: &mut BinaryReader<'_>) -> std::result::Result<(usize, u32), (String, u64)> {
    let error = |e: BinaryReaderError| (e.message().to_string(), e.offset());
    let segment_start = reader.original_position();
    let flags = reader.read_var_u32().map_err(error)?;
    match flags {
        1 => {}
        0 | 2 => {
            if flags == 2 {
                reader.read_var_u32().map_err(error)?;
            }
            reader.read::<ConstExpr<'_>>().map_err(error)?;
        }
        _ => return Err(("invalid flags byte in data segment".into(), segment_start)),
    }
    let prefix_len = reader.current_position();
    Ok((prefix_len, reader.read_var_u32().map_err(error)?))
}

impl State {
    fn new(name: &str, size: u64, limits: Limits) -> State {
        let mut parser = Parser::new(0);
        parser.set_features(WasmFeatures::default());
        State {
            name: name.to_string(),
            limits,
            validator: Validator::new_with_features(WasmFeatures::default()),
            bodies: limits.workers.map_or_else(Bodies::for_this_machine, Bodies::new),
            level: Level { parser, encoding: None, next_section: None, end: size },
            parents: Vec::new(),
            kind: None,
            imports: Vec::new(),
            exports: Vec::new(),
            metadata_wasm: Vec::new(),
            warnings: Vec::new(),
            streamed_sections: 0,
            done: false,
        }
    }

    fn invalid(&self, e: &BinaryReaderError) -> Error {
        self.invalid_at(e.message().to_string(), e.offset())
    }

    fn invalid_at(&self, reason: String, offset: u64) -> Error {
        Error::InvalidWasm { path: self.name.clone(), reason, offset: usize::try_from(offset).unwrap_or(usize::MAX) }
    }

    /// True if the parser is at a section header at `offset`.
    fn between_sections(&self, offset: u64) -> bool {
        self.level.next_section == Some(offset) && self.level.parser.offset() == offset
    }

    /// Hands a stand-in section (whole, in `piece`) to the parser and
    /// validator; errors inside it are mapped back with `map`.
    fn feed(&mut self, piece: &[u8], map: Option<&OffsetMap>) -> Result<()> {
        let mapped = |e: Error| match (e, map) {
            (Error::InvalidWasm { path, reason, offset }, Some(map)) => {
                let real = map_offset(map, offset as u64);
                Error::InvalidWasm { path, reason, offset: usize::try_from(real).unwrap_or(usize::MAX) }
            }
            (e, _) => e,
        };
        match self.level.parser.parse(piece, false) {
            Ok(Chunk::Parsed { consumed, payload }) if consumed == piece.len() => {
                self.handle(payload, piece, Some(piece.len())).map_err(mapped)
            }
            Ok(_) => Err(self.invalid_at("a section could not be streamed".into(), self.level.parser.offset())),
            Err(e) => Err(mapped(self.invalid(&e))),
        }
    }

    /// Hands the parser filler custom sections from `from` up to `end`.
    fn fill_to(&mut self, from: u64, end: u64) -> Result<()> {
        let mut left = end - from;
        let mut piece = Vec::new();
        while left > 0 {
            let mut size = left.min(FILLER_MAX as u64);
            if matches!(left - size, 1 | 2) {
                size -= 3;
            }
            filler_section(&mut piece, size);
            self.feed(&piece, None)?;
            left -= size;
        }
        Ok(())
    }

    /// Validates one payload and records what inspection needs from it.
    /// `raw` holds its bytes; `stand_in` is set for a stand-in section.
    fn handle(&mut self, payload: Payload<'_>, raw: &[u8], stand_in: Option<usize>) -> Result<()> {
        let top = self.parents.is_empty();
        match &payload {
            Payload::Version { encoding, .. } => {
                self.level.encoding = Some(*encoding);
                if top {
                    self.kind = Some(match encoding {
                        Encoding::Component => WasmKind::Component,
                        Encoding::Module => WasmKind::Module,
                    });
                    self.metadata_wasm.extend_from_slice(raw);
                }
            }
            Payload::ComponentImportSection(s) if top => {
                self.imports.extend(s.clone().into_iter().flatten().map(|i| i.name.name.to_string()))
            }
            Payload::ComponentExportSection(s) if top => {
                self.exports.extend(s.clone().into_iter().flatten().map(|e| e.name.name.to_string()))
            }
            Payload::CustomSection(c) if top && stand_in.is_none() && METADATA_SECTIONS.contains(&c.name()) => {
                self.metadata_wasm.extend_from_slice(raw)
            }
            _ => {}
        }
        self.level.next_section = match &payload {
            Payload::Version { range, .. } => Some(range.end),
            Payload::CodeSectionEntry(_) => self.level.next_section,
            other => other.as_section().map(|(_, range)| range.end),
        };
        let nested_end = match &payload {
            Payload::ModuleSection { unchecked_range, .. } | Payload::ComponentSection { unchecked_range, .. } => {
                Some(unchecked_range.end)
            }
            _ => None,
        };
        match &payload {
            Payload::CodeSectionEntry(_) => {}
            Payload::CodeSectionStart { size, .. } => {
                self.bodies.section_start(u64::from(*size)).map_err(|e| self.invalid(&e))?
            }
            // A code section ended: its bodies are all validated before what follows.
            _ => self.bodies.finish().map_err(|e| self.invalid(&e))?,
        }
        match self.validator.payload(&payload).map_err(|e| self.invalid(&e))? {
            ValidPayload::Ok => {}
            ValidPayload::Parser(parser) => {
                let end = nested_end.unwrap_or(self.level.end).min(self.level.end);
                let nested = Level { parser, encoding: None, next_section: None, end };
                self.parents.push(std::mem::replace(&mut self.level, nested));
            }
            ValidPayload::Func(func, body) => self.bodies.validate(func, &body).map_err(|e| self.invalid(&e))?,
            ValidPayload::End(_) => match self.parents.pop() {
                Some(parent) => self.level = parent,
                None => self.done = true,
            },
        }
        Ok(())
    }

    /// Imports, exports and metadata from what the scan kept.
    fn describe(self, kind: WasmKind) -> WasmInfo {
        let mut warnings = self.warnings;
        let (mut imports, mut exports) = (self.imports, self.exports);
        imports.sort();
        exports.sort();
        let metadata = super::metadata(&self.metadata_wasm).unwrap_or_else(|reason| {
            warnings.push(format!("could not read the embedded metadata: {reason}"));
            Metadata::default()
        });
        WasmInfo { kind, imports, exports, metadata, warnings }
    }
}

/// The real offset of `offset` in a stand-in section.
fn map_offset(map: &OffsetMap, offset: u64) -> u64 {
    match map.iter().rev().find(|(stand_in, _)| *stand_in <= offset) {
        Some((stand_in, real)) => real + (offset - stand_in),
        None => offset,
    }
}

/// Makes `piece` an empty-named custom section of exactly `size` (>= 3)
/// bytes (the contents are whatever `piece` held: custom sections are opaque).
fn filler_section(piece: &mut Vec<u8>, size: u64) {
    let width = if size >= 7 { 5 } else { 1 };
    piece.resize(usize::try_from(size).unwrap_or(usize::MAX), 0);
    piece[0] = CUSTOM_SECTION;
    write_padded_leb(&mut piece[1..1 + width], size - 1 - width as u64);
    piece[1 + width] = 0; // empty name
}

/// Appends `value` as an unsigned LEB128 of exactly `width` bytes.
fn push_padded_leb(out: &mut Vec<u8>, value: u64, width: usize) {
    let at = out.len();
    out.resize(at + width, 0);
    write_padded_leb(&mut out[at..], value);
}

/// Writes `value` as an unsigned LEB128 filling all of `out`.
fn write_padded_leb(out: &mut [u8], mut value: u64) {
    let last = out.len().saturating_sub(1);
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = (value & 0x7f) as u8 | if i < last { 0x80 } else { 0 };
        value >>= 7;
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
