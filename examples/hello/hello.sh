#!/bin/sh
cat /app/greeting.txt
echo "$GREETING, $1"
