//! Wrappers around a store, as `NativeObjectStore` methods: retries, request counts, injected faults.

use super::*;
use std::time::Duration;

#[napi]
impl NativeObjectStore {
    #[napi]
    pub fn with_retry(&self, options: Option<JsRetryOptions>) -> NativeObjectStore {
        let mut policy = RetryPolicy::default();
        if let Some(o) = options {
            policy.max_attempts = o.max_attempts.unwrap_or(policy.max_attempts).max(1);
            policy.base_delay = o
                .base_delay_ms
                .map(|m| Duration::from_millis(m as u64))
                .unwrap_or(policy.base_delay);
            policy.max_delay = o
                .max_delay_ms
                .map(|m| Duration::from_millis(m as u64))
                .unwrap_or(policy.max_delay);
        }
        Self::wrap(Arc::new(RetryingObjectStore::new(
            self.store.clone(),
            policy,
        )))
    }

    /// A wrapper that counts requests by kind and bytes moved (`counts()`).
    #[napi]
    pub fn counting(&self) -> NativeObjectStore {
        let c = Arc::new(CountingObjectStore::new(self.store.clone()));
        Self {
            store: c.clone(),
            counting: Some(c),
            failing: None,
        }
    }

    /// A wrapper that injects faults by rule (`addFailRule`).
    #[napi]
    pub fn failing(&self, seed: Option<u32>) -> NativeObjectStore {
        let f = Arc::new(FailingObjectStore::new(
            self.store.clone(),
            seed.unwrap_or(1) as u64,
        ));
        Self {
            store: f.clone(),
            counting: None,
            failing: Some(f),
        }
    }

    /// Request counts, on a store made by `counting()`.
    #[napi]
    pub fn counts(&self, env: Env) -> napi::Result<JsRequestCounts> {
        sync_call(&env, "counts", || {
            Ok(self
                .counting
                .as_ref()
                .ok_or_else(|| bad_arg("counts", "not a counting store; call counting() first"))?
                .counts()
                .into())
        })
    }

    #[napi]
    pub fn reset_counts(&self) {
        if let Some(c) = &self.counting {
            c.reset();
        }
    }

    #[napi]
    pub fn add_fail_rule(&self, env: Env, rule: JsFailRule) -> napi::Result<()> {
        sync_call(&env, "addFailRule", || {
            let failing = self.failing.as_ref().ok_or_else(|| {
                bad_arg("addFailRule", "not a failing store; call failing() first")
            })?;
            let status = rule.status.map(|s| s as u16);
            let code = rule.code.clone().unwrap_or_else(|| "InjectedFault".into());
            let action = match rule.action.as_str() {
                "error" => FailAction::Error(StoreError::Other {
                    op: "injected".into(),
                    key: String::new(),
                    status,
                    code,
                    message: "injected fault".into(),
                }),
                "transient" => FailAction::Error(StoreError::Transient {
                    op: "injected".into(),
                    key: String::new(),
                    status: status.or(Some(503)),
                    code,
                    message: "injected fault".into(),
                }),
                "lostResponse" => FailAction::LostResponse,
                "delay" => {
                    FailAction::Delay(Duration::from_millis(rule.delay_ms.unwrap_or(0) as u64))
                }
                "ignorePreconditions" => FailAction::IgnorePreconditions,
                other => return Err(bad_arg("addFailRule", format!("unknown action {other:?}"))),
            };
            let kinds = rule
                .kinds
                .unwrap_or_default()
                .iter()
                .map(|k| {
                    RequestKind::parse(k).ok_or_else(|| {
                        bad_arg("addFailRule", format!("unknown request kind {k:?}"))
                    })
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            if rule.probability.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
                return Err(bad_arg("addFailRule", "probability must be within [0, 1]"));
            }
            failing.add_rule(FailRule {
                kinds,
                key_contains: rule.key_contains,
                action,
                skip: rule.skip.unwrap_or(0),
                times: rule.times,
                probability: rule.probability,
            });
            Ok(())
        })
    }

    #[napi]
    pub fn clear_fail_rules(&self) {
        if let Some(f) = &self.failing {
            f.clear_rules();
        }
    }
}
