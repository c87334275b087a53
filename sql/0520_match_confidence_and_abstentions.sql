-- Issue 14: the probabilistic stage says how sure it is, and why it abstained (trackai/pipeline/ambiguity.py).
-- core.matches.confidence: probability that the matched click is the buyer's (deterministic and
--   semi-deterministic: their stage score; probabilistic: the ambiguity-aware posterior). Dispatch sends a
--   matched click's fbc/fbp/IP/UA only at or above TRACKAI_MATCH_SEND_MIN_CONFIDENCE.
-- core.matches.evidence: what a probabilistic match rests on (visitors on the address and network, the
--   user agent's share of the tenant's visitors, the runner-up's confidence, minutes before the purchase).
-- Rows matched before this migration keep their score as confidence, except probabilistic ones: their score
-- was not a probability, so they stay NULL (not sent) until the next recompute of their day.
ALTER TABLE core.matches
    ADD COLUMN confidence numeric(6, 4) CHECK (confidence BETWEEN 0 AND 1),
    ADD COLUMN evidence jsonb;
UPDATE core.matches SET confidence = score WHERE stage <> 'probabilistic';

-- core.purchases.abstain_reason / abstain_detail: the probabilistic stage had candidates for an unmatched
-- purchase and declined them (reason + the same evidence, with the best candidate's click_id).
ALTER TABLE core.purchases
    ADD COLUMN abstain_reason text CHECK (abstain_reason IN (
        'fbclid_conflict', 'close_runner_up', 'shared_address', 'common_user_agent', 'weak_evidence')),
    ADD COLUMN abstain_detail jsonb;
CREATE INDEX purchases_abstained_idx ON core.purchases (tenant_id, partition_date) WHERE abstain_reason IS NOT NULL;
