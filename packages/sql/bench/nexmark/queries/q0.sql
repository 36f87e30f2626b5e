-- Passthrough: every bid, unchanged.
SELECT auction, bidder, price, date_time, extra FROM bid INTO q0
