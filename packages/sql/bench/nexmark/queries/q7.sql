-- Highest bid: the bids with the highest price of each 10-second window.
SELECT B.auction, B.price, B.bidder, B.date_time
FROM bid AS B
JOIN (
  SELECT MAX(price) AS maxprice, window_end AS date_time
  FROM TUMBLE(bid, date_time, '10 SECONDS')
  GROUP BY window_end
) AS B1 ON B.price = B1.maxprice
WHERE B.date_time BETWEEN B1.date_time - INTERVAL '10 SECONDS' AND B1.date_time
INTO q7
