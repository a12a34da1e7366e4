//! Operands given by URL: downloaded at admission, checked against their
//! length and sha256, and stored next to the job's record.

use super::JobManager;
use crate::error::Failure;
use tensormine_core::api::{JobRequest, JobSpec, MatrixSource};
use tensormine_core::Digest32;

impl JobManager {
    pub(super) async fn fetch_operands(&self, request: &JobRequest) -> Result<(), Failure> {
        let JobSpec::Matmul(spec) = &request.spec else {
            return Ok(());
        };
        let operands = [
            ("a", &spec.a, spec.m as u64 * spec.k as u64),
            ("b", &spec.b, spec.k as u64 * spec.n as u64),
        ];
        for (name, source, values) in operands {
            if let MatrixSource::Url { url, sha256 } = source {
                let bytes = self.download(name, url, sha256, values * 4).await?;
                self.inner
                    .store
                    .write_file(&request.job_id, &format!("{name}.bin"), &bytes)
                    .map_err(|e| {
                        Failure::internal(format!("could not store operand {name}: {e:#}"))
                    })?;
            }
        }
        Ok(())
    }

    async fn download(
        &self,
        name: &str,
        url: &str,
        expected: &Digest32,
        expected_len: u64,
    ) -> Result<Vec<u8>, Failure> {
        let fetch_failed = |e: String| {
            Failure::unprocessable(
                "fetch_failed",
                format!("operand {name}: fetching {url} failed: {e}"),
            )
        };
        let mut response = self
            .inner
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| fetch_failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fetch_failed(format!("HTTP status {}", response.status())));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| fetch_failed(e.to_string()))?
        {
            if bytes.len() as u64 + chunk.len() as u64 > expected_len {
                return Err(Failure::unprocessable("operand_size_mismatch", format!("operand {name} from {url} is longer than the {expected_len} bytes its shape needs")));
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.len() as u64 != expected_len {
            return Err(Failure::unprocessable(
                "operand_size_mismatch",
                format!(
                    "operand {name} from {url} has {} bytes, its shape needs {expected_len}",
                    bytes.len()
                ),
            ));
        }
        let actual = Digest32::sha256(&bytes);
        if actual != *expected {
            return Err(Failure::unprocessable(
                "sha256_mismatch",
                format!(
                    "operand {name} from {url}: sha256 is {actual}, the job expects {expected}"
                ),
            ));
        }
        Ok(bytes)
    }
}
