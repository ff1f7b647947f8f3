# Signpost container image: a static binary on a distroless base, running as
# a non-root user with the default configuration in /etc/signpost.
# The build is the README's: go build ./cmd/signpost.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/signpost ./cmd/signpost \
 && mkdir -p /out/data && chown 65532:65532 /out/data && chmod 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/signpost /usr/local/bin/signpost
COPY configs/default/ /etc/signpost/
COPY --from=build --chown=65532:65532 /out/data /var/lib/signpost
USER 65532:65532
# 3128: the proxy port (PAC files, CA download, pages). 9129: the admin port
# (health, readiness, metrics, admin API; bearer-token authenticated).
EXPOSE 3128 9129
VOLUME ["/var/lib/signpost"]
ENTRYPOINT ["/usr/local/bin/signpost"]
CMD ["run", "--config", "/etc/signpost", "--data", "/var/lib/signpost", "--listen", ":3128", "--admin-listen", ":9129"]
