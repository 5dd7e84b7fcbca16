//! Prototype head: learn a new action on the device from a few examples.
//!
//! The caller enrols exemplar embeddings (a few per label, "n-shot") into storage it owns, and queries are
//! classified by their nearest exemplars (STARS' few-shot protocol). Exemplars are L2-normalised when enrolled,
//! so a query's cosine similarity to each is one dot product divided by the query's norm.

use crate::wire::Event;

use super::{all_finite, dot, expect_len, norm, HeadError};

/// Default compile-time bound on k, the number of neighbours that vote.
pub const DEFAULT_MAX_K: usize = 16;

/// How far a restored exemplar's norm may be from 1 before it counts as corrupt (f32 rounding stays far below).
const RESTORE_NORM_TOLERANCE: f64 = 1e-3;

/// Outcome of a k-NN vote.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PrototypeMatch {
    /// The label with the most votes among the k nearest exemplars.
    pub label: u16,
    /// How many of the nearest exemplars carry `label`.
    pub votes: u16,
    /// How many exemplars voted: k, or fewer when fewer are enrolled.
    pub voters: u16,
    /// Sum of the cosine similarities of `label`'s voters; breaks ties in `votes`.
    pub similarity_sum: f32,
    /// Highest cosine similarity of any exemplar of `label`. Compare it with a threshold to say "unknown".
    pub best_similarity: f32,
}

/// A k-nearest-neighbour classifier over exemplars held in caller-supplied storage.
///
/// Storage is `capacity × dim` floats for the normalised embeddings plus `capacity` labels. Nothing is
/// allocated; `MAX_K` (default [`DEFAULT_MAX_K`]) bounds k so that the vote fits on the stack.
///
/// Labels are the caller's label indices (the same numbering the decision layer maps to action ids);
/// [`Event::UNKNOWN`] is reserved and cannot be enrolled.
#[derive(Debug)]
pub struct PrototypeHead<'a, const MAX_K: usize = DEFAULT_MAX_K> {
    embeddings: &'a mut [f32],
    labels: &'a mut [u16],
    dim: usize,
    len: usize,
    k: usize,
}

impl<'a, const MAX_K: usize> PrototypeHead<'a, MAX_K> {
    /// An empty head over `labels.len()` exemplar slots of `dim` floats each.
    ///
    /// Errors: [`HeadError::ZeroDimension`] for `dim` 0 or no slots, [`HeadError::Length`] when `embeddings` is
    /// not `labels.len() × dim` long, [`HeadError::K`] when `k` is not in `1..=MAX_K`.
    pub fn new(embeddings: &'a mut [f32], labels: &'a mut [u16], dim: usize, k: usize) -> Result<Self, HeadError> {
        Self::check_k(k)?;
        if dim == 0 || labels.is_empty() {
            return Err(HeadError::ZeroDimension);
        }
        let expected = labels
            .len()
            .checked_mul(dim)
            .ok_or(HeadError::Length { expected: usize::MAX, actual: embeddings.len() })?;
        expect_len(embeddings, expected)?;
        Ok(PrototypeHead { embeddings, labels, dim, len: 0, k })
    }

    /// A head whose first `len` slots already hold exemplars, for example saved by an earlier run.
    ///
    /// Each restored exemplar is checked: its label must not be [`Event::UNKNOWN`] ([`HeadError::Label`]) and its
    /// embedding must be finite ([`HeadError::NotFinite`]) and of unit length ([`HeadError::ZeroVector`] when it
    /// is not). `len` beyond the capacity is [`HeadError::StorageFull`].
    pub fn restore(
        embeddings: &'a mut [f32],
        labels: &'a mut [u16],
        dim: usize,
        k: usize,
        len: usize,
    ) -> Result<Self, HeadError> {
        let mut head = Self::new(embeddings, labels, dim, k)?;
        if len > head.capacity() {
            return Err(HeadError::StorageFull { capacity: head.capacity() });
        }
        for slot in 0..len {
            let label = head.labels[slot];
            if label == Event::UNKNOWN {
                return Err(HeadError::Label { label });
            }
            let embedding = head.slot(slot);
            all_finite(embedding)?;
            if (norm(embedding) - 1.0).abs() > RESTORE_NORM_TOLERANCE {
                return Err(HeadError::ZeroVector);
            }
        }
        head.len = len;
        Ok(head)
    }

    /// Number of enrolled exemplars.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no exemplar is enrolled.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most exemplars the storage holds.
    pub fn capacity(&self) -> usize {
        self.labels.len()
    }

    /// Embedding length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of neighbours that vote.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Changes k. Errors with [`HeadError::K`] (k unchanged) when `k` is not in `1..=MAX_K`.
    pub fn set_k(&mut self, k: usize) -> Result<(), HeadError> {
        Self::check_k(k)?;
        self.k = k;
        Ok(())
    }

    /// Number of exemplars enrolled for `label` (the n of n-shot).
    pub fn count(&self, label: u16) -> usize {
        self.enrolled_labels().iter().filter(|l| **l == label).count()
    }

    /// Exemplar `index` (in enrolment order) as `(label, normalised embedding)`, for saving; `None` past `len`.
    pub fn exemplar(&self, index: usize) -> Option<(u16, &[f32])> {
        if index < self.len {
            Some((*self.labels.get(index)?, self.slot(index)))
        } else {
            None
        }
    }

    /// One more than the largest enrolled label: the shortest per-label slice the query methods accept.
    pub fn label_bound(&self) -> usize {
        self.enrolled_labels().iter().map(|l| usize::from(*l) + 1).max().unwrap_or(0)
    }

    /// Stores `embedding`, L2-normalised, as an exemplar of `label`.
    ///
    /// Errors, with nothing stored: [`HeadError::Label`] for [`Event::UNKNOWN`], [`HeadError::Length`],
    /// [`HeadError::NotFinite`], [`HeadError::ZeroVector`] for an all-zero embedding (it has no direction),
    /// [`HeadError::StorageFull`].
    pub fn enroll(&mut self, label: u16, embedding: &[f32]) -> Result<(), HeadError> {
        if label == Event::UNKNOWN {
            return Err(HeadError::Label { label });
        }
        let norm = self.query_norm(embedding)?;
        let capacity = self.capacity();
        let slot = self.len;
        let (Some(stored_label), Some(stored)) =
            (self.labels.get_mut(slot), self.embeddings.get_mut(slot * self.dim..(slot + 1) * self.dim))
        else {
            return Err(HeadError::StorageFull { capacity });
        };
        for (s, e) in stored.iter_mut().zip(embedding) {
            *s = (f64::from(*e) / norm) as f32;
        }
        *stored_label = label;
        self.len += 1;
        Ok(())
    }

    /// Removes every exemplar of `label`, keeping the others in enrolment order. Returns how many were removed.
    pub fn forget(&mut self, label: u16) -> usize {
        let mut kept = 0;
        for slot in 0..self.len {
            if self.labels[slot] != label {
                if kept != slot {
                    self.labels[kept] = self.labels[slot];
                    self.embeddings.copy_within(slot * self.dim..(slot + 1) * self.dim, kept * self.dim);
                }
                kept += 1;
            }
        }
        let removed = self.len - kept;
        self.len = kept;
        removed
    }

    /// Removes every exemplar.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Writes, for every label `l < best.len()`, the highest cosine similarity of `embedding` to an exemplar of
    /// `l`, or -1 (the lowest cosine) when `l` has no exemplar.
    ///
    /// Errors, with `best` untouched: [`HeadError::Length`] for a wrong embedding length,
    /// [`HeadError::NotFinite`], [`HeadError::ZeroVector`], and [`HeadError::Label`] when an enrolled label
    /// does not fit in `best` (see [`Self::label_bound`]).
    pub fn best_similarities(&self, embedding: &[f32], best: &mut [f32]) -> Result<(), HeadError> {
        let query_norm = self.query_norm(embedding)?;
        self.check_label_bound(best.len())?;
        best.iter_mut().for_each(|b| *b = -1.0);
        for slot in 0..self.len {
            let similarity = self.similarity(slot, embedding, query_norm);
            if let Some(b) = best.get_mut(usize::from(self.labels[slot])) {
                *b = b.max(similarity);
            }
        }
        Ok(())
    }

    /// Classifies `embedding` by a vote of its k nearest exemplars (cosine similarity).
    ///
    /// The label with the most votes wins; a tie goes to the larger summed similarity of the tied labels'
    /// voters, then to the higher best similarity, then to the smaller label. Among exemplars with exactly equal
    /// similarity the earlier enrolled is nearer. Errors: as [`Self::enroll`] for the embedding, and
    /// [`HeadError::NoExemplars`].
    pub fn classify(&self, embedding: &[f32]) -> Result<PrototypeMatch, HeadError> {
        let query_norm = self.query_norm(embedding)?;
        self.vote(embedding, query_norm)
    }

    /// [`Self::classify`], and also writes each label's share of the votes into `votes` (indexed by label,
    /// 0 for labels without a vote; the shares sum to 1). That vector is a score vector for the decision layer.
    ///
    /// Errors as [`Self::classify`], plus [`HeadError::Label`] when an enrolled label does not fit in `votes`;
    /// on error `votes` is untouched.
    pub fn vote_shares(&self, embedding: &[f32], votes: &mut [f32]) -> Result<PrototypeMatch, HeadError> {
        let query_norm = self.query_norm(embedding)?;
        self.check_label_bound(votes.len())?;
        let (neighbours, voters) = self.nearest(embedding, query_norm)?;
        votes.iter_mut().for_each(|v| *v = 0.0);
        for (_, label) in &neighbours[..voters] {
            if let Some(v) = votes.get_mut(usize::from(*label)) {
                *v += 1.0 / voters as f32;
            }
        }
        Ok(Self::tally(&neighbours[..voters]))
    }

    fn check_k(k: usize) -> Result<(), HeadError> {
        if k == 0 || k > MAX_K || k > usize::from(u16::MAX) {
            return Err(HeadError::K { k, max: MAX_K });
        }
        Ok(())
    }

    fn enrolled_labels(&self) -> &[u16] {
        &self.labels[..self.len]
    }

    fn slot(&self, slot: usize) -> &[f32] {
        &self.embeddings[slot * self.dim..(slot + 1) * self.dim]
    }

    /// Validates a query or enrolment embedding and returns its L2 norm.
    fn query_norm(&self, embedding: &[f32]) -> Result<f64, HeadError> {
        expect_len(embedding, self.dim)?;
        all_finite(embedding)?;
        let norm = norm(embedding);
        if norm > 0.0 {
            Ok(norm)
        } else {
            Err(HeadError::ZeroVector)
        }
    }

    fn check_label_bound(&self, available: usize) -> Result<(), HeadError> {
        match self.enrolled_labels().iter().find(|l| usize::from(**l) >= available) {
            Some(label) => Err(HeadError::Label { label: *label }),
            None => Ok(()),
        }
    }

    /// Cosine similarity of exemplar `slot` (unit length) and `embedding` (norm `query_norm`).
    fn similarity(&self, slot: usize, embedding: &[f32], query_norm: f64) -> f32 {
        // Rounding can push a cosine a hair past ±1; clamp so callers may rely on the range.
        ((f64::from(dot(self.slot(slot), embedding)) / query_norm) as f32).clamp(-1.0, 1.0)
    }

    fn vote(&self, embedding: &[f32], query_norm: f64) -> Result<PrototypeMatch, HeadError> {
        let (neighbours, voters) = self.nearest(embedding, query_norm)?;
        Ok(Self::tally(&neighbours[..voters]))
    }

    /// The k nearest exemplars as `(similarity, label)`, nearest first, and how many there are.
    fn nearest(&self, embedding: &[f32], query_norm: f64) -> Result<([(f32, u16); MAX_K], usize), HeadError> {
        if self.len == 0 {
            return Err(HeadError::NoExemplars);
        }
        let k = self.k.min(self.len);
        let mut nearest = [(0.0f32, 0u16); MAX_K];
        let mut count = 0;
        for slot in 0..self.len {
            let candidate = (self.similarity(slot, embedding, query_norm), self.labels[slot]);
            // Insert after every neighbour at least as similar, so earlier exemplars win exact ties.
            let position = nearest[..count].iter().take_while(|(s, _)| *s >= candidate.0).count();
            if position < k {
                let end = (count + 1).min(k);
                nearest.copy_within(position..end - 1, position + 1);
                nearest[position] = candidate;
                count = end;
            }
        }
        Ok((nearest, count))
    }

    /// Counts the votes of `neighbours` (non-empty) and picks the winner by the documented tie rules.
    fn tally(neighbours: &[(f32, u16)]) -> PrototypeMatch {
        // One entry per distinct label; there are at most MAX_K neighbours, so at most MAX_K labels.
        let mut tallies =
            [PrototypeMatch { label: 0, votes: 0, voters: 0, similarity_sum: 0.0, best_similarity: -1.0 }; MAX_K];
        let mut distinct = 0;
        for (similarity, label) in neighbours {
            let index = match tallies[..distinct].iter().position(|t| t.label == *label) {
                Some(index) => index,
                None => {
                    tallies[distinct].label = *label;
                    distinct += 1;
                    distinct - 1
                }
            };
            let tally = &mut tallies[index];
            tally.votes += 1;
            tally.similarity_sum += similarity;
            tally.best_similarity = tally.best_similarity.max(*similarity);
        }
        // Most votes, then the larger summed similarity, then the higher best similarity, then the smaller label.
        // Similarities are finite (queries and exemplars are checked), so the float comparisons are total here.
        let rank = |t: &PrototypeMatch| (t.votes, t.similarity_sum, t.best_similarity, core::cmp::Reverse(t.label));
        let mut winner = tallies[0];
        for candidate in &tallies[1..distinct] {
            if rank(candidate) > rank(&winner) {
                winner = *candidate;
            }
        }
        winner.voters = neighbours.len() as u16;
        winner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector in 2-D whose cosine with [1, 0] is `c`.
    fn at_cosine(c: f32) -> [f32; 2] {
        [c, crate::head::math::sqrt_f64(f64::from(1.0 - c * c)) as f32]
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn enrol_normalises_and_counts() {
        let mut embeddings = [0.0; 6];
        let mut labels = [0; 3];
        let mut head = PrototypeHead::<4>::new(&mut embeddings, &mut labels, 2, 1).unwrap();
        assert!(head.is_empty());
        head.enroll(7, &[3.0, 4.0]).unwrap();
        head.enroll(7, &[0.0, -2.0]).unwrap();
        assert_eq!(head.len(), 2);
        assert_eq!(head.count(7), 2);
        assert_eq!(head.count(1), 0);
        assert_eq!(head.label_bound(), 8);
        let (label, stored) = head.exemplar(0).unwrap();
        assert_eq!(label, 7);
        assert!(close(stored[0], 0.6) && close(stored[1], 0.8), "{stored:?}");
        assert_eq!(head.exemplar(1).unwrap().1, &[0.0, -1.0]);
        assert_eq!(head.exemplar(2), None);
    }

    #[test]
    fn knn_votes_hand_computed() {
        // Query [3, 4] is the unit vector [0.6, 0.8]. Its cosines to the exemplars below are, in enrolment order:
        // 0.6 (label 1), 0.96 (label 1), 1.0 (label 2), 0.8 (label 2), -0.6 (label 3).
        let mut embeddings = [0.0; 10];
        let mut labels = [0; 5];
        let mut head = PrototypeHead::<8>::new(&mut embeddings, &mut labels, 2, 1).unwrap();
        for (label, embedding) in [(1, [1.0, 0.0]), (1, [0.8, 0.6]), (2, [0.6, 0.8]), (2, [0.0, 1.0]), (3, [-1.0, 0.0])]
        {
            head.enroll(label, &embedding).unwrap();
        }
        let query = [3.0, 4.0];

        // k = 1: the nearest exemplar alone.
        let m = head.classify(&query).unwrap();
        assert_eq!((m.label, m.votes, m.voters), (2, 1, 1));
        assert!(close(m.best_similarity, 1.0));

        // k = 2: one vote each for labels 2 (1.0) and 1 (0.96); the summed similarity breaks the tie.
        head.set_k(2).unwrap();
        let m = head.classify(&query).unwrap();
        assert_eq!((m.label, m.votes, m.voters), (2, 1, 2));

        // k = 3: label 2 has two votes (1.0 + 0.8).
        head.set_k(3).unwrap();
        let m = head.classify(&query).unwrap();
        assert_eq!((m.label, m.votes, m.voters), (2, 2, 3));
        assert!(close(m.similarity_sum, 1.8), "{m:?}");
        let mut shares = [9.0; 4];
        head.vote_shares(&query, &mut shares).unwrap();
        assert!(
            close(shares[0], 0.0)
                && close(shares[1], 1.0 / 3.0)
                && close(shares[2], 2.0 / 3.0)
                && close(shares[3], 0.0),
            "{shares:?}"
        );

        // k larger than the number of exemplars: all five vote, label 2 and label 1 have two votes each,
        // label 2's sum (1.8) beats label 1's (1.56).
        head.set_k(8).unwrap();
        let m = head.classify(&query).unwrap();
        assert_eq!((m.label, m.votes, m.voters), (2, 2, 5));

        // Per-label best similarity, -1 for a label with no exemplar.
        let mut best = [0.0; 4];
        head.best_similarities(&query, &mut best).unwrap();
        assert!(
            close(best[0], -1.0) && close(best[1], 0.96) && close(best[2], 1.0) && close(best[3], -0.6),
            "{best:?}"
        );
    }

    #[test]
    fn summed_similarity_beats_the_single_nearest() {
        // Cosines to the query [1, 0]: label 10 at 0.99 and 0.1, label 20 at 0.9 and 0.8, label 30 at 0.05.
        let mut embeddings = [0.0; 10];
        let mut labels = [0; 5];
        let mut head = PrototypeHead::<4>::new(&mut embeddings, &mut labels, 2, 4).unwrap();
        for (label, cosine) in [(10, 0.99), (10, 0.1), (20, 0.9), (20, 0.8), (30, 0.05)] {
            head.enroll(label, &at_cosine(cosine)).unwrap();
        }
        // The four nearest vote 2 : 2; label 20's sum 1.7 beats label 10's 1.09 although 10 has the nearest.
        let m = head.classify(&[1.0, 0.0]).unwrap();
        assert_eq!((m.label, m.votes, m.voters), (20, 2, 4));
        assert!(close(m.similarity_sum, 1.7) && close(m.best_similarity, 0.9), "{m:?}");
        head.set_k(1).unwrap();
        assert_eq!(head.classify(&[1.0, 0.0]).unwrap().label, 10);
    }

    #[test]
    fn a_perfect_tie_goes_to_the_smaller_label() {
        let mut embeddings = [0.0; 4];
        let mut labels = [0; 2];
        let mut head = PrototypeHead::<2>::new(&mut embeddings, &mut labels, 2, 2).unwrap();
        // Mirror images of each other about the query's axis, so votes, sums and bests are all equal.
        head.enroll(5, &[0.6, 0.8]).unwrap();
        head.enroll(4, &[0.6, -0.8]).unwrap();
        let m = head.classify(&[1.0, 0.0]).unwrap();
        assert_eq!((m.label, m.votes, m.voters), (4, 1, 2));
    }

    #[test]
    fn full_storage_refuses_and_keeps_what_it_had() {
        let mut embeddings = [0.0; 4];
        let mut labels = [0; 2];
        let mut head = PrototypeHead::<2>::new(&mut embeddings, &mut labels, 2, 1).unwrap();
        head.enroll(1, &[1.0, 0.0]).unwrap();
        head.enroll(2, &[0.0, 1.0]).unwrap();
        assert_eq!(head.enroll(3, &[1.0, 1.0]), Err(HeadError::StorageFull { capacity: 2 }));
        assert_eq!(head.len(), 2);
        assert_eq!(head.exemplar(0), Some((1, &[1.0, 0.0][..])));
        assert_eq!(head.exemplar(1), Some((2, &[0.0, 1.0][..])));
        assert_eq!(head.count(3), 0);
        // Forgetting frees room again.
        assert_eq!(head.forget(1), 1);
        head.enroll(3, &[1.0, 1.0]).unwrap();
        assert_eq!(head.classify(&[1.0, 1.0]).unwrap().label, 3);
    }

    #[test]
    fn forget_removes_every_exemplar_of_a_label_and_keeps_order() {
        let mut embeddings = [0.0; 8];
        let mut labels = [0; 4];
        let mut head = PrototypeHead::<4>::new(&mut embeddings, &mut labels, 2, 1).unwrap();
        head.enroll(1, &[1.0, 0.0]).unwrap();
        head.enroll(2, &[0.0, 1.0]).unwrap();
        head.enroll(1, &[0.6, 0.8]).unwrap();
        head.enroll(3, &[-1.0, 0.0]).unwrap();
        assert_eq!(head.forget(1), 2);
        assert_eq!(head.forget(9), 0);
        assert_eq!(head.len(), 2);
        assert_eq!(head.exemplar(0), Some((2, &[0.0, 1.0][..])));
        assert_eq!(head.exemplar(1), Some((3, &[-1.0, 0.0][..])));
        // The forgotten label no longer wins even for a query identical to one of its exemplars.
        assert_ne!(head.classify(&[1.0, 0.0]).unwrap().label, 1);
        let mut best = [0.0; 4];
        head.best_similarities(&[1.0, 0.0], &mut best).unwrap();
        assert_eq!(best[1], -1.0);
        head.clear();
        assert_eq!(head.classify(&[1.0, 0.0]), Err(HeadError::NoExemplars));
    }

    #[test]
    fn zero_vectors_are_errors() {
        let mut embeddings = [0.0; 4];
        let mut labels = [0; 2];
        let mut head = PrototypeHead::<2>::new(&mut embeddings, &mut labels, 2, 1).unwrap();
        assert_eq!(head.enroll(1, &[0.0, 0.0]), Err(HeadError::ZeroVector));
        assert!(head.is_empty());
        head.enroll(1, &[1.0, 0.0]).unwrap();
        assert_eq!(head.classify(&[0.0, 0.0]), Err(HeadError::ZeroVector));
        let mut best = [9.0; 2];
        assert_eq!(head.best_similarities(&[0.0, 0.0], &mut best), Err(HeadError::ZeroVector));
        assert_eq!(best, [9.0; 2]);
    }

    #[test]
    fn bad_input_is_refused() {
        let mut embeddings = [0.0; 4];
        let mut labels = [0; 2];
        assert_eq!(
            PrototypeHead::<2>::new(&mut embeddings, &mut labels, 2, 0).unwrap_err(),
            HeadError::K { k: 0, max: 2 }
        );
        assert_eq!(
            PrototypeHead::<2>::new(&mut embeddings, &mut labels, 2, 3).unwrap_err(),
            HeadError::K { k: 3, max: 2 }
        );
        assert_eq!(
            PrototypeHead::<2>::new(&mut embeddings, &mut labels, 3, 1).unwrap_err(),
            HeadError::Length { expected: 6, actual: 4 }
        );
        assert_eq!(PrototypeHead::<2>::new(&mut embeddings, &mut labels, 0, 1).unwrap_err(), HeadError::ZeroDimension);
        let mut head = PrototypeHead::<2>::new(&mut embeddings, &mut labels, 2, 1).unwrap();
        assert_eq!(head.classify(&[1.0, 0.0]), Err(HeadError::NoExemplars));
        assert_eq!(head.enroll(Event::UNKNOWN, &[1.0, 0.0]), Err(HeadError::Label { label: Event::UNKNOWN }));
        assert_eq!(head.enroll(1, &[1.0]), Err(HeadError::Length { expected: 2, actual: 1 }));
        assert_eq!(head.enroll(1, &[1.0, f32::INFINITY]), Err(HeadError::NotFinite));
        assert!(head.is_empty());
        assert_eq!(head.set_k(3), Err(HeadError::K { k: 3, max: 2 }));
        assert_eq!(head.k(), 1);
        head.enroll(5, &[1.0, 0.0]).unwrap();
        // Per-label outputs must have room for every enrolled label.
        let mut short = [9.0; 5];
        assert_eq!(head.best_similarities(&[1.0, 0.0], &mut short), Err(HeadError::Label { label: 5 }));
        assert_eq!(head.vote_shares(&[1.0, 0.0], &mut short), Err(HeadError::Label { label: 5 }));
        assert_eq!(short, [9.0; 5]);
    }

    #[test]
    fn restore_accepts_saved_exemplars_and_refuses_corrupt_ones() {
        let mut embeddings = [0.6, 0.8, 0.0, 1.0, 0.0, 0.0];
        let mut labels = [4, 2, 0];
        let head = PrototypeHead::<2>::restore(&mut embeddings, &mut labels, 2, 1, 2).unwrap();
        assert_eq!(head.len(), 2);
        assert_eq!(head.classify(&[0.0, 3.0]).unwrap().label, 2);

        let mut not_unit = [2.0, 0.0];
        assert_eq!(PrototypeHead::<1>::restore(&mut not_unit, &mut [1], 2, 1, 1).unwrap_err(), HeadError::ZeroVector);
        let mut fine = [1.0, 0.0];
        assert_eq!(
            PrototypeHead::<1>::restore(&mut fine, &mut [Event::UNKNOWN], 2, 1, 1).unwrap_err(),
            HeadError::Label { label: Event::UNKNOWN }
        );
        assert_eq!(
            PrototypeHead::<1>::restore(&mut fine, &mut [1], 2, 1, 2).unwrap_err(),
            HeadError::StorageFull { capacity: 1 }
        );
        let mut nan = [f32::NAN, 0.0];
        assert_eq!(PrototypeHead::<1>::restore(&mut nan, &mut [1], 2, 1, 1).unwrap_err(), HeadError::NotFinite);
    }
}
