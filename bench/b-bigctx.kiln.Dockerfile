# Scenario b of the anchors' suite, minus its two RUN lines (kiln runs no RUN yet): a 20k-file /
# ~100 MB context COPY, then a small later COPY that scenario e edits.
FROM busybox
COPY files/ /data/files/
COPY app/ /app/
