-- Hot items: the auctions with the most bids in each 10-second window, sliding every 2 seconds.
SELECT AuctionBids.auction, AuctionBids.num
FROM (
  SELECT auction, COUNT(*) AS num, window_start AS starttime
  FROM HOP(bid, date_time, '2 SECONDS', '10 SECONDS')
  GROUP BY window_start, auction
) AS AuctionBids
JOIN (
  SELECT MAX(CountBids.num) AS maxn, CountBids.starttime_c
  FROM (
    SELECT COUNT(*) AS num, window_start AS starttime_c
    FROM HOP(bid, date_time, '2 SECONDS', '10 SECONDS')
    GROUP BY auction, window_start
  ) AS CountBids
  GROUP BY CountBids.starttime_c
) AS MaxBids
ON AuctionBids.starttime = MaxBids.starttime_c AND AuctionBids.num >= MaxBids.maxn
INTO q5
