//! What a service says about itself: its metrics and whether it is ready.

use std::{future::Future, pin::Pin, sync::Arc};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet},
    metrics::{counter::ConstCounter, gauge::ConstGauge, MetricType},
    registry::Registry,
};

/// A boxed, sendable future (what [`Observe`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A service's report about itself, read at every scrape and every readiness check. No
/// metric may carry user data: counts and sizes only.
pub trait Observe: Send + Sync + 'static {
    /// The service's state now.
    fn observe(&self) -> BoxFuture<'_, Observation>;
}

/// Whether a service is ready to answer, and why, in one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Ready: caught up, loaded.
    pub ready: bool,
    /// What it is doing (for `/ready` and logs).
    pub detail: String,
}

impl Readiness {
    /// Ready, with `detail`.
    pub fn ready(detail: impl Into<String>) -> Self {
        Self {
            ready: true,
            detail: detail.into(),
        }
    }

    /// Not ready, with `detail`.
    pub fn not_ready(detail: impl Into<String>) -> Self {
        Self {
            ready: false,
            detail: detail.into(),
        }
    }
}

/// One metric's value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A counter (the exposition adds `_total` to its name).
    Counter(u64),
    /// A whole-number gauge.
    Gauge(i64),
    /// A gauge with a fraction.
    GaugeF(f64),
    /// Counters told apart by one label: `(label, [(value, count)])`.
    Counters(&'static str, Vec<(&'static str, u64)>),
    /// Counters told apart by one label whose values are known only at run time (a router's
    /// shard addresses): `(label, [(value, count)])`.
    CountersBy(&'static str, Vec<(String, u64)>),
    /// Gauges told apart by one label whose values are known only at run time.
    GaugesBy(&'static str, Vec<(String, f64)>),
    /// A histogram: `(upper bound, observations in that bucket alone)`, the sum and count.
    Histogram {
        /// Buckets in increasing order of bound, counts not cumulative.
        buckets: Vec<(f64, u64)>,
        /// Sum of the observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
}

/// One named metric.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// The name, without the service prefix.
    pub name: &'static str,
    /// One sentence.
    pub help: &'static str,
    /// The value.
    pub value: Value,
}

/// What [`Observe::observe`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Ready or not, and why.
    pub readiness: Readiness,
    /// The metrics, in the order they are shown.
    pub metrics: Vec<Metric>,
}

impl Observation {
    /// An observation with no metrics yet.
    pub fn new(readiness: Readiness) -> Self {
        Self {
            readiness,
            metrics: Vec::new(),
        }
    }

    /// Adds a counter.
    pub fn counter(&mut self, name: &'static str, help: &'static str, value: u64) -> &mut Self {
        self.push(name, help, Value::Counter(value))
    }

    /// Adds a whole-number gauge (saturating at `i64::MAX`).
    pub fn gauge(&mut self, name: &'static str, help: &'static str, value: u64) -> &mut Self {
        self.push(
            name,
            help,
            Value::Gauge(i64::try_from(value).unwrap_or(i64::MAX)),
        )
    }

    /// Adds a gauge with a fraction.
    pub fn gauge_f(&mut self, name: &'static str, help: &'static str, value: f64) -> &mut Self {
        self.push(name, help, Value::GaugeF(value))
    }

    /// Adds any value.
    pub fn push(&mut self, name: &'static str, help: &'static str, value: Value) -> &mut Self {
        self.metrics.push(Metric { name, help, value });
        self
    }

    /// Adds `other`'s metrics; the result is ready only if both are, and says both details.
    pub fn merge(&mut self, other: Observation) -> &mut Self {
        self.readiness = Readiness {
            ready: self.readiness.ready && other.readiness.ready,
            detail: format!("{}; {}", self.readiness.detail, other.readiness.detail),
        };
        self.metrics.extend(other.metrics);
        self
    }
}

/// Several observers as one: metrics in order, ready when all are.
pub struct All(pub Vec<Arc<dyn Observe>>);

impl Observe for All {
    fn observe(&self) -> BoxFuture<'_, Observation> {
        Box::pin(async move {
            let mut all: Option<Observation> = None;
            for o in &self.0 {
                let next = o.observe().await;
                match &mut all {
                    None => all = Some(next),
                    Some(a) => {
                        a.merge(next);
                    }
                }
            }
            all.unwrap_or_else(|| Observation::new(Readiness::ready("nothing to observe")))
        })
    }
}

#[derive(Debug)]
struct Snapshot(Vec<Metric>);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for m in &self.0 {
            match &m.value {
                Value::Counter(v) => {
                    let c = ConstCounter::new(*v);
                    c.encode(encoder.encode_descriptor(m.name, m.help, None, c.metric_type())?)?;
                }
                Value::Gauge(v) => {
                    let g = ConstGauge::new(*v);
                    g.encode(encoder.encode_descriptor(m.name, m.help, None, g.metric_type())?)?;
                }
                Value::GaugeF(v) => {
                    let g = ConstGauge::new(*v);
                    g.encode(encoder.encode_descriptor(m.name, m.help, None, g.metric_type())?)?;
                }
                Value::Counters(label, values) => {
                    let mut family =
                        encoder.encode_descriptor(m.name, m.help, None, MetricType::Counter)?;
                    for (value, count) in values {
                        let labels = [(*label, *value)];
                        ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
                    }
                }
                Value::CountersBy(label, values) => {
                    let mut family =
                        encoder.encode_descriptor(m.name, m.help, None, MetricType::Counter)?;
                    for (value, count) in values {
                        let labels = [(*label, value.as_str())];
                        ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
                    }
                }
                Value::GaugesBy(label, values) => {
                    let mut family =
                        encoder.encode_descriptor(m.name, m.help, None, MetricType::Gauge)?;
                    for (value, v) in values {
                        let labels = [(*label, value.as_str())];
                        ConstGauge::new(*v).encode(family.encode_family(&labels)?)?;
                    }
                }
                Value::Histogram {
                    buckets,
                    sum,
                    count,
                } => {
                    let mut h =
                        encoder.encode_descriptor(m.name, m.help, None, MetricType::Histogram)?;
                    h.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?;
                }
            }
        }
        Ok(())
    }
}

/// `metrics` in Prometheus' text format (version 0.0.4), each name prefixed with `prefix_`.
pub fn encode(prefix: &str, metrics: &[Metric]) -> String {
    let mut registry = Registry::with_prefix(prefix);
    registry.register_collector(Box::new(Snapshot(metrics.to_vec())));
    let mut out = String::new();
    // Writing to a String cannot fail; a metric the encoder refuses is a bug worth seeing.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        tracing::error!("metrics encoding failed: {e}");
    }
    out
}
