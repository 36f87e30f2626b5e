-- Selection: bids on a sample of auctions.
SELECT auction, price FROM bid WHERE auction % 123 = 0 INTO q2
