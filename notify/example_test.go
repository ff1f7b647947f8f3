package notify_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-gateway/signpost/notify"
)

// A receiver checks each delivery before it trusts it: the raw body, the timestamp and the
// signature, with the secret it shares with Signpost's json target. It answers 2xx quickly
// (and does the work later) so that Signpost does not retry, and uses the delivery id to
// ignore the repeats a retry can cause.
func ExampleVerify() {
	const secret = "a-secret-shared-with-signpost"
	seen := map[string]bool{}
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		err = notify.Verify(secret, r.Header.Get(notify.HeaderTimestamp), string(body),
			r.Header.Get(notify.HeaderSignature), 5*time.Minute)
		switch {
		case errors.Is(err, notify.ErrStale):
			http.Error(w, "stale", http.StatusUnauthorized)
			return
		case err != nil:
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(notify.HeaderDelivery)
		if seen[id] {
			w.WriteHeader(http.StatusOK) // a retry of something already handled
			return
		}
		seen[id] = true
		w.WriteHeader(http.StatusAccepted)
	})

	send := func(body, signedBody string) int {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req := httptest.NewRequest(http.MethodPost, "/signpost", strings.NewReader(body))
		req.Header.Set(notify.HeaderTimestamp, ts)
		req.Header.Set(notify.HeaderSignature, notify.Sign(secret, ts, signedBody))
		req.Header.Set(notify.HeaderDelivery, "0123456789abcdef0123456789abcdef")
		rec := httptest.NewRecorder()
		receiver.ServeHTTP(rec, req)
		return rec.Code
	}
	body := `{"type":"request.created","request":{"id":42}}`
	fmt.Println(send(body, body))
	fmt.Println(send(body, body))
	fmt.Println(send(`{"type":"request.created","request":{"id":43}}`, body))
	// Output:
	// 202
	// 200
	// 401
}
