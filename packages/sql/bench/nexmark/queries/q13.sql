-- Bounded side input join: each bid joined with a static side table keyed by auction mod 10000.
-- The reference joins a file as a lookup table (FOR SYSTEM_TIME AS OF); here side_input is an
-- ordinary source table (key, value) that the benchmark fills with 10,000 rows before the bids.
SELECT B.auction, B.bidder, B.price, B.date_time, S.value
FROM bid AS B
JOIN side_input AS S ON B.auction % 10000 = S.key
INTO q13
