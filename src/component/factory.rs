//! The component traits and their type-erased factory wrappers.
//!
//! Component authors write a typed config (decoded strictly by `config::decode`) and implement
//! one of `Processor<S>`, `Exporter<S>`, or a receiver/extension task. The factory traits here
//! are object-safe so that `registry.rs` can list them in one place; nothing else in the crate
//! matches on component types.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::component::context::BuildContext;
use crate::component::{Signal, Stability};
use crate::config::error::ConfigErrors;
use crate::data::{Batch, Logs, Metrics, SignalData, Traces};
use crate::pipeline::fanout::Consumer;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Error from building a component (after its config validated): a socket that cannot be
/// bound, a certificate file that cannot be read, and so on. Not retryable.
#[derive(Debug, thiserror::Error)]
#[error("failed to build {kind} {id:?}: {message}")]
pub struct BuildError {
    pub kind: &'static str,
    pub id: String,
    pub message: String,
}

impl BuildError {
    pub fn new(kind: &'static str, id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
            message: message.into(),
        }
    }
}

/// A processor refused data. Refusals (memory_limiter) are not permanent: clients should retry.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProcessError {
    pub message: String,
    pub permanent: bool,
}

/// Error returned to a receiver by the pipeline it feeds. Mapped to OTLP statuses by the
/// receiver: non-permanent -> UNAVAILABLE / 503, permanent -> INTERNAL / 500 unless it carries
/// a more specific gRPC code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ConsumeError {
    pub message: String,
    pub permanent: bool,
    /// A gRPC status code to pass through (e.g. ResourceExhausted), when known.
    pub grpc_code: Option<i32>,
    /// A delay to advertise to the client (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl ConsumeError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
            grpc_code: None,
            retry_after: None,
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
            grpc_code: None,
            retry_after: None,
        }
    }
    /// Combines the errors of several fan-out branches into one (any retryable branch makes
    /// the whole retryable, as a retry by the client is the only way to deliver it).
    pub fn combine(errors: Vec<ConsumeError>) -> Option<ConsumeError> {
        match errors.len() {
            0 => None,
            1 => errors.into_iter().next(),
            _ => Some(ConsumeError {
                permanent: errors.iter().all(|e| e.permanent),
                grpc_code: None,
                retry_after: errors.iter().filter_map(|e| e.retry_after).max(),
                message: errors
                    .iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
        }
    }
}

/// Error from one export attempt.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ExportError {
    pub message: String,
    /// Whether the exporter helper may retry this request.
    pub retryable: bool,
    /// A server-provided delay (gRPC RetryInfo, HTTP Retry-After) overriding the backoff.
    pub throttle: Option<Duration>,
}

impl ExportError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            throttle: None,
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            throttle: None,
        }
    }
    pub fn with_throttle(mut self, d: Option<Duration>) -> Self {
        self.throttle = d;
        self
    }
}

/// A synchronous processor, run inside its pipeline's task.
pub trait Processor<S: SignalData>: Send {
    /// Processes one batch, pushing zero or more batches to `out`.
    fn process(&mut self, batch: Batch<S>, out: &mut Vec<Batch<S>>) -> Result<(), ProcessError>;
    /// When the processor next wants `on_deadline` called (batch timeout).
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    /// Called at or after `next_deadline`.
    fn on_deadline(&mut self, _now: Instant, _out: &mut Vec<Batch<S>>) {}
    /// Emits everything held (shutdown and reload).
    fn flush(&mut self, _out: &mut Vec<Batch<S>>) {}
}

/// "Send one request": the only thing an exporter author writes. Queueing, retries, timeouts
/// and telemetry are added by `exporters::queue`. `&self` so that `num_consumers` workers can
/// export concurrently.
pub trait Exporter<S: SignalData>: Send + Sync {
    fn export(&self, batch: Arc<Batch<S>>) -> BoxFuture<'_, Result<(), ExportError>>;
}

/// Applies a prepared in-place reconfiguration (infallible: all checks were done before).
pub type ApplyReconfigure = Box<dyn FnOnce() + Send>;

/// A component's in-place reconfiguration hook: given the new raw config (already validated),
/// returns how to apply it to the running instance, or None when it needs a restart.
pub type ReconfigureHook =
    Box<dyn Fn(&serde_yaml::Value) -> Option<ApplyReconfigure> + Send + Sync>;

/// A running component's task body. It must return once `ctx.shutdown` is cancelled (after
/// finishing in-flight work) so that the ordered shutdown can proceed. A component may also
/// offer a `reconfigure` hook, used on reload instead of a rebuild when its config changes.
pub struct BuiltComponent {
    pub task: BoxFuture<'static, ()>,
    pub reconfigure: Option<ReconfigureHook>,
}

impl BuiltComponent {
    pub fn new(task: impl Future<Output = ()> + Send + 'static) -> Self {
        Self {
            task: Box::pin(task),
            reconfigure: None,
        }
    }

    /// Adds an in-place reconfiguration hook.
    pub fn with_reconfigure(mut self, hook: ReconfigureHook) -> Self {
        self.reconfigure = Some(hook);
        self
    }
}

/// The outputs a receiver instance feeds, one per signal it is used with.
#[derive(Clone, Default)]
pub struct ReceiverOutputs {
    pub traces: Option<Consumer<Traces>>,
    pub metrics: Option<Consumer<Metrics>>,
    pub logs: Option<Consumer<Logs>>,
}

/// A processor of one of the three signals.
pub enum AnyProcessor {
    Traces(Box<dyn Processor<Traces>>),
    Metrics(Box<dyn Processor<Metrics>>),
    Logs(Box<dyn Processor<Logs>>),
}

/// An exporter of one of the three signals.
pub enum AnyExporter {
    Traces(Arc<dyn Exporter<Traces>>),
    Metrics(Arc<dyn Exporter<Metrics>>),
    Logs(Arc<dyn Exporter<Logs>>),
}

/// Builds the `Any*` variant for `signal` from an expression generic over the marker type `$T`:
/// `for_signal!(signal, AnyProcessor, T => Box::new(Batcher::<T>::new(cfg)))`.
#[macro_export]
macro_rules! for_signal {
    ($signal:expr, $any:ident, $t:ident => $e:expr) => {
        match $signal {
            $crate::component::Signal::Traces => {
                type $t = $crate::data::Traces;
                $any::Traces($e)
            }
            $crate::component::Signal::Metrics => {
                type $t = $crate::data::Metrics;
                $any::Metrics($e)
            }
            $crate::component::Signal::Logs => {
                type $t = $crate::data::Logs;
                $any::Logs($e)
            }
        }
    };
}

/// What every factory has: its type, stability per signal, and config validation.
pub trait Factory: Send + Sync {
    /// The type name (`otlp`, `batch`, ...).
    fn type_name(&self) -> &'static str;
    /// Stability per supported signal (empty for extensions: see `extension_stability`).
    fn stability(&self) -> Vec<(Signal, Stability)>;
    /// Decodes and validates a raw config (null means defaults), reporting every problem with
    /// key paths relative to `key_path` (e.g. `receivers::otlp`).
    fn validate(&self, raw: &serde_yaml::Value, key_path: &str) -> ConfigErrors;
    /// Whether the component supports `signal`.
    fn supports(&self, signal: Signal) -> bool {
        self.stability().iter().any(|(s, _)| *s == signal)
    }
}

pub trait ReceiverFactory: Factory {
    /// Builds one receiver instance serving every signal in `outputs` (otelcol's shared
    /// component model: one OTLP server for all signals). May bind sockets; starts nothing.
    fn build(
        &self,
        raw: &serde_yaml::Value,
        ctx: BuildContext,
        outputs: ReceiverOutputs,
    ) -> Result<BuiltComponent, BuildError>;
}

pub trait ProcessorFactory: Factory {
    fn build(
        &self,
        raw: &serde_yaml::Value,
        ctx: &BuildContext,
        signal: Signal,
    ) -> Result<AnyProcessor, BuildError>;
}

/// Exporter queue and retry settings, decoded by the factory and applied by the helper.
pub use crate::exporters::queue::HelperSettings;

pub trait ExporterFactory: Factory {
    /// Builds the "send one request" part plus the helper settings for it.
    fn build(
        &self,
        raw: &serde_yaml::Value,
        ctx: &BuildContext,
        signal: Signal,
    ) -> Result<(AnyExporter, HelperSettings), BuildError>;
}

pub trait ExtensionFactory: Factory {
    fn build(
        &self,
        raw: &serde_yaml::Value,
        ctx: BuildContext,
    ) -> Result<BuiltComponent, BuildError>;
}
