//! Core work off the JS thread: a napi `AsyncTask` (libuv thread pool) that
//! runs a blocking core call and settles its promise on the JS thread — with
//! the converted report, or rejected with the core error as a JS `Error`
//! ([`crate::error`]), which `#[napi] async fn` cannot do.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{
    AbortSignal, AsyncTask, FromNapiValue, JsObjectValue, Object, ToNapiValue,
};
use napi::JsValue;
use napi::ScopedTask;
use napi::{Env, Unknown};
use serde::Serialize;

use crate::convert::to_js;
use crate::error::CoreError;

type Job<T> = Box<dyn FnOnce() -> Result<T, CoreError> + Send>;

/// One blocking core call and how to hand its result to JS.
pub struct Work<T: Send + 'static> {
    job: Option<Job<T>>,
    resolve: for<'e> fn(&'e Env, T) -> napi::Result<Unknown<'e>>,
}

/// A task whose result is a core report (plain object, camelCase keys).
pub fn report<T: Serialize + Send + 'static>(
    job: impl FnOnce() -> Result<T, CoreError> + Send + 'static,
) -> Work<T> {
    Work {
        job: Some(Box::new(job)),
        resolve: |env, value| to_js(env, &value),
    }
}

/// A task with its own conversion of the result.
pub fn with<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, CoreError> + Send + 'static,
    resolve: for<'e> fn(&'e Env, T) -> napi::Result<Unknown<'e>>,
) -> Work<T> {
    Work {
        job: Some(Box::new(job)),
        resolve,
    }
}

impl<'task, T: Send + 'static> ScopedTask<'task> for Work<T> {
    type Output = Result<T, CoreError>;
    type JsValue = Unknown<'task>;

    fn compute(&mut self) -> napi::Result<Result<T, CoreError>> {
        let job = self
            .job
            .take()
            .ok_or_else(|| napi::Error::from_reason("task ran twice"))?;
        Ok(job())
    }

    fn resolve(
        &mut self,
        env: &'task Env,
        output: Result<T, CoreError>,
    ) -> napi::Result<Unknown<'task>> {
        match output {
            Ok(value) => (self.resolve)(env, value),
            Err(error) => Err(error.into_napi(env)),
        }
    }
}

/// The task, cancelled by napi if `signal` fires before it starts.
pub fn spawn<T: Send + 'static>(work: Work<T>, signal: Option<AbortSignal>) -> AsyncTask<Work<T>> {
    AsyncTask::with_optional_signal(work, signal)
}

/// The caller's `AbortSignal` as the binding uses it: napi cancels the
/// task if it fires before the task starts, and `flag` is set once it has
/// fired (also before the call), for the work to check.
pub struct Abort {
    pub signal: Option<AbortSignal>,
    pub flag: Arc<AtomicBool>,
}

impl Abort {
    pub fn new(env: &Env, signal: Option<Object<'_>>) -> napi::Result<Abort> {
        let flag = Arc::new(AtomicBool::new(false));
        let Some(object) = signal else {
            return Ok(Abort { signal: None, flag });
        };
        let aborted: Option<bool> = object.get_named_property("aborted")?;
        flag.store(aborted.unwrap_or(false), Ordering::SeqCst);
        // SAFETY: `object` is a live value of this env, converted on its thread.
        let signal = unsafe { AbortSignal::from_napi_value(env.raw(), object.raw())? };
        let set = flag.clone();
        signal.on_abort(move || set.store(true, Ordering::SeqCst));
        Ok(Abort {
            signal: Some(signal),
            flag,
        })
    }

    /// `Err(Cancelled)` once the signal has fired.
    pub fn check(flag: &AtomicBool) -> Result<(), CoreError> {
        if flag.load(Ordering::SeqCst) {
            Err(CoreError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Resolve with a `#[napi(object)]` / `#[napi]` value as napi converts it.
pub fn native<T: ToNapiValue>(env: &Env, value: T) -> napi::Result<Unknown<'_>> {
    // SAFETY: converted in `env`, on its thread, and used in this call.
    unsafe {
        let raw = T::to_napi_value(env.raw(), value)?;
        Ok(Unknown::from_raw_unchecked(env.raw(), raw))
    }
}
