-- Monitor new users: persons who opened an auction in the same 10-second window they registered in.
SELECT P.id, P.name, P.starttime
FROM (
  SELECT id, name, window_start AS starttime, window_end AS endtime
  FROM TUMBLE(person, date_time, '10 SECONDS')
  GROUP BY id, name, window_start, window_end
) AS P
JOIN (
  SELECT seller, window_start AS starttime, window_end AS endtime
  FROM TUMBLE(auction, date_time, '10 SECONDS')
  GROUP BY seller, window_start, window_end
) AS A ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime
INTO q8
