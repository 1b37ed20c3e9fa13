//! Function bodies validated on worker threads, as wasmtime does: the
//! validator hands out each body with what validating it needs
//! ([`FuncToValidate`]), and bodies are independent of each other. Code
//! sections of at least [`PARALLEL_ABOVE`] bytes go to workers (the body's
//! bytes copied, through a bounded queue, so memory stays bounded); smaller
//! ones, and any section on a machine of one core, are validated inline.
//!
//! The error is the sequential one: the invalid body with the smallest offset.
//! A body is queued only while no error is known, and every queued body is
//! validated before an error is given, so the first invalid body in the file
//! is always among those validated.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use wasmparser::{
    BinaryReader, BinaryReaderError, FuncToValidate, FuncValidatorAllocations, FunctionBody, ValidatorResources,
    WasmFeatures,
};

/// Code sections at least this large are validated on workers.
pub(crate) const PARALLEL_ABOVE: u64 = 1 << 20;
/// Batches waiting per worker.
const QUEUED_PER_WORKER: usize = 4;
/// Bytes of bodies handed to a worker at once (bodies are small: one at a
/// time would cost more in hand-overs than validating them).
const BATCH_BYTES: usize = 256 << 10;
/// Most workers.
const MAX_WORKERS: usize = 4;

/// One body to validate, owned.
struct Job {
    func: FuncToValidate<ValidatorResources>,
    bytes: Vec<u8>,
    offset: u64,
    features: WasmFeatures,
}

/// The first error found so far (smallest offset).
type FirstError = Arc<Mutex<Option<BinaryReaderError>>>;

/// Workers validating the bodies of one code section.
struct Pool {
    jobs: SyncSender<Vec<Job>>,
    /// Bodies not handed over yet, and their bytes.
    batch: Vec<Job>,
    batch_bytes: usize,
    workers: Vec<JoinHandle<()>>,
    first_error: FirstError,
}

/// Where function bodies are validated.
pub(crate) struct Bodies {
    allocs: FuncValidatorAllocations,
    pool: Option<Pool>,
    workers: usize,
    /// Code sections validated on workers.
    pub(crate) pooled: usize,
}

impl Bodies {
    /// Inline validation, with up to `workers` threads for large code sections (1: never).
    pub(crate) fn new(workers: usize) -> Bodies {
        Bodies { allocs: FuncValidatorAllocations::default(), pool: None, workers: workers.min(MAX_WORKERS), pooled: 0 }
    }

    /// As many workers as the machine has cores.
    pub(crate) fn for_this_machine() -> Bodies {
        Bodies::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// A code section of `size` bytes starts: large ones go to workers.
    pub(crate) fn section_start(&mut self, size: u64) -> Result<(), BinaryReaderError> {
        self.finish()?;
        if size >= PARALLEL_ABOVE && self.workers > 1 {
            self.pool = Some(Pool::start(self.workers));
            self.pooled += 1;
        }
        Ok(())
    }

    /// Validates `body` (of `func`) now, or queues it; an error may come from an earlier queued body.
    pub(crate) fn validate(
        &mut self,
        func: FuncToValidate<ValidatorResources>,
        body: &FunctionBody<'_>,
    ) -> Result<(), BinaryReaderError> {
        let Some(pool) = &self.pool else {
            let mut validator = func.into_validator(std::mem::take(&mut self.allocs));
            validator.validate(body)?;
            self.allocs = validator.into_allocations();
            return Ok(());
        };
        let known_error = pool.first_error.lock().map(|e| e.is_some()).unwrap_or(true);
        if known_error {
            return self.finish();
        }
        let reader = body.get_binary_reader();
        let job =
            Job { func, bytes: body.as_bytes().to_vec(), offset: body.range().start, features: reader.features() };
        let Some(pool) = &mut self.pool else { return Ok(()) };
        pool.batch_bytes += job.bytes.len();
        pool.batch.push(job);
        if pool.batch_bytes >= BATCH_BYTES && !pool.send_batch() {
            return self.finish(); // the workers are gone: only after a panic
        }
        Ok(())
    }

    /// Waits for every queued body; the first invalid one's error, by offset.
    pub(crate) fn finish(&mut self) -> Result<(), BinaryReaderError> {
        let Some(mut pool) = self.pool.take() else { return Ok(()) };
        pool.send_batch();
        let Pool { jobs, workers, first_error, .. } = pool;
        drop(jobs);
        for worker in workers {
            // A panic in wasmparser is passed on, as it would be inline.
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        match first_error.lock().ok().and_then(|mut e| e.take()) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl Drop for Bodies {
    /// Stops the workers of a scan that ended early (an error elsewhere): the
    /// queue closes, they finish what they hold, and nothing is waited for.
    fn drop(&mut self) {
        drop(self.pool.take());
    }
}

impl Pool {
    fn start(workers: usize) -> Pool {
        let (jobs, queue) = sync_channel::<Vec<Job>>(workers * QUEUED_PER_WORKER);
        let queue = Arc::new(Mutex::new(queue));
        let first_error: FirstError = Arc::new(Mutex::new(None));
        let workers = (0..workers)
            .map(|_| {
                let (queue, first_error) = (Arc::clone(&queue), Arc::clone(&first_error));
                std::thread::spawn(move || work(&queue, &first_error))
            })
            .collect();
        Pool { jobs, batch: Vec::new(), batch_bytes: 0, workers, first_error }
    }

    /// Hands the bodies gathered to a worker; false if none is left.
    fn send_batch(&mut self) -> bool {
        self.batch_bytes = 0;
        let batch = std::mem::take(&mut self.batch);
        batch.is_empty() || self.jobs.send(batch).is_ok()
    }
}

/// A worker: validates batches of bodies until the queue closes.
fn work(queue: &Mutex<Receiver<Vec<Job>>>, first_error: &Mutex<Option<BinaryReaderError>>) {
    let mut allocs = FuncValidatorAllocations::default();
    loop {
        let batch = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(batch) = batch else { return };
        for job in batch {
            allocs = validate(job, allocs, first_error);
        }
    }
}

/// Validates one body, keeping its error if it is the first by offset so far.
fn validate(
    job: Job,
    allocs: FuncValidatorAllocations,
    first_error: &Mutex<Option<BinaryReaderError>>,
) -> FuncValidatorAllocations {
    let reader = BinaryReader::new_features(&job.bytes, job.offset, job.features);
    let body = FunctionBody::new(reader);
    let mut validator = job.func.into_validator(allocs);
    let result = validator.validate(&body);
    if let (Err(error), Ok(mut first)) = (result, first_error.lock())
        && first.as_ref().is_none_or(|known| error.offset() < known.offset())
    {
        *first = Some(error);
    }
    validator.into_allocations()
}
