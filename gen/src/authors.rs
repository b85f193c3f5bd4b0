//! Who writes each message: authors' activity is Pareto-distributed, the main author leads.
//!
//! Weights are drawn once as `1 / sqrt(U)` (a Pareto law with shape 2; `sqrt` is correctly
//! rounded by IEEE 754, so every machine gets the same weights), then quantised to integers and
//! sampled by binary search over their running sums.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// How much more active the main author (index 0) is than the next most active one.
const MAIN_LEAD: f64 = 2.0;

/// Integer resolution of the weights.
const SCALE: f64 = 1_000_000.0;

/// Picks the author of a message in proportion to fixed Pareto weights.
#[derive(Clone, Debug)]
pub(crate) struct AuthorSampler {
    /// Running sums of the integer weights; the last one is the total.
    cumulative: Vec<u64>,
}

impl AuthorSampler {
    /// Draws the weights of `authors` authors (at least one) from `rng`.
    pub(crate) fn new(authors: u32, rng: &mut ChaCha8Rng) -> Self {
        let weights = pareto_weights(authors.max(1), rng);
        let mut total = 0u64;
        let cumulative = weights
            .iter()
            .map(|w| {
                total += quantise(*w);
                total
            })
            .collect();
        Self { cumulative }
    }

    /// The author of the next message.
    pub(crate) fn sample(&self, rng: &mut ChaCha8Rng) -> u32 {
        let total = *self.cumulative.last().expect("at least one author");
        let x = rng.gen_range(0..total);
        let index = self.cumulative.partition_point(|&c| c <= x);
        u32::try_from(index).expect("author count fits u32")
    }

    /// Each author's share of the messages, for tests and reports.
    #[cfg(test)]
    pub(crate) fn shares(&self) -> Vec<f64> {
        let total = *self.cumulative.last().expect("at least one author") as f64;
        let mut prev = 0;
        self.cumulative
            .iter()
            .map(|&c| {
                let share = (c - prev) as f64 / total;
                prev = c;
                share
            })
            .collect()
    }
}

/// Pareto(shape 2) weights sorted in decreasing order, with the main author's lead applied.
fn pareto_weights(authors: u32, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut weights: Vec<f64> = (0..authors)
        .map(|_| {
            let u = (f64::from(rng.r#gen::<u32>()) + 1.0) / 4_294_967_296.0;
            1.0 / u.sqrt()
        })
        .collect();
    weights.sort_by(|a, b| b.total_cmp(a));
    if weights.len() > 1 {
        weights[0] = weights[1] * MAIN_LEAD;
    }
    weights
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "weights are in [1, 2^17], so the scaled value is a small positive integer"
)]
fn quantise(weight: f64) -> u64 {
    (weight * SCALE).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn sampler(authors: u32) -> AuthorSampler {
        AuthorSampler::new(authors, &mut ChaCha8Rng::seed_from_u64(1))
    }

    #[test]
    fn main_author_is_the_most_active() {
        let shares = sampler(150).shares();
        assert_eq!(shares.len(), 150);
        assert!(shares.iter().skip(1).all(|s| *s < shares[0]));
        assert!(
            shares[0] > 2.0 * shares[75],
            "main {} median {}",
            shares[0],
            shares[75]
        );
    }

    #[test]
    fn sampling_follows_the_weights() {
        let s = sampler(10);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[s.sample(&mut rng) as usize] += 1;
        }
        for (count, share) in counts.iter().zip(s.shares()) {
            let observed = f64::from(*count) / 100_000.0;
            assert!(
                (observed - share).abs() < 0.01,
                "observed {observed} expected {share}"
            );
        }
    }

    #[test]
    fn one_author_always_wins() {
        let s = sampler(1);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert!((0..100).all(|_| s.sample(&mut rng) == 0));
    }
}
