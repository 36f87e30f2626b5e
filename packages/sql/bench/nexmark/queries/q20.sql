-- Expand bids with their auction, for auctions of category 10.
SELECT B.auction, B.bidder, B.price, B.channel, B.url, B.date_time, B.extra,
  A.item_name, A.description, A.initial_bid, A.reserve, A.date_time AS auction_date_time, A.expires,
  A.seller, A.category, A.extra AS auction_extra
FROM bid AS B
JOIN auction AS A ON B.auction = A.id
WHERE A.category = 10
INTO q20
