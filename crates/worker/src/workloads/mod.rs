//! The workloads: what a job computes, independent of HTTP and persistence.

pub mod embed;
pub mod matmul;
pub mod models;
pub mod tiny_bert;

use tensormine_core::verify::Shape;
use tensormine_core::Digest32;

/// A job's work with its inputs resolved.
#[derive(Debug, Clone)]
pub enum WorkItem {
    /// `C = A·B`, operands row-major.
    Matmul {
        /// Dimensions.
        shape: Shape,
        /// A, m×k.
        a: Vec<f32>,
        /// B, k×n.
        b: Vec<f32>,
    },
    /// Sentence embeddings.
    Embed {
        /// Model id in the store.
        model: Digest32,
        /// Input sentences.
        sentences: Vec<String>,
    },
}

/// A result: a row-major f32 matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultMatrix {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// rows·cols values.
    pub data: Vec<f32>,
}

/// Reports progress as (units done, units in all).
pub type ProgressFn<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Runs work items. The worker uses [`Workloads`]; tests substitute doubles
/// (for instance one that corrupts rows) to exercise the verification path.
pub trait Executor: Send + Sync + 'static {
    /// Computes the item, blocking the calling thread.
    fn run(&self, item: WorkItem, progress: ProgressFn<'_>) -> anyhow::Result<ResultMatrix>;
}

/// The real workloads.
pub struct Workloads {
    /// GEMM.
    pub matmul: matmul::MatmulEngine,
    /// Embeddings.
    pub embed: embed::EmbedEngine,
}

impl Executor for Workloads {
    fn run(&self, item: WorkItem, progress: ProgressFn<'_>) -> anyhow::Result<ResultMatrix> {
        match item {
            WorkItem::Matmul { shape, a, b } => {
                let data = self.matmul.multiply(shape, &a, &b, progress)?;
                Ok(ResultMatrix {
                    rows: shape.m,
                    cols: shape.n,
                    data,
                })
            }
            WorkItem::Embed { model, sentences } => self.embed.embed(&model, &sentences, progress),
        }
    }
}
