package identity_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"golang.org/x/crypto/bcrypt"

	"github.com/signpost-gateway/signpost/identity"
)

// A proxy identifies each request, answers an *AuthError with 407 and the challenge, and
// strips the credentials before the request goes anywhere else.
func ExampleAuthenticator_Identify() {
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	users, err := identity.ParseHtpasswd("users.htpasswd", []byte("alice:"+string(hash)+"\n"))
	if err != nil {
		panic(err)
	}
	a, err := identity.New(identity.Config{
		Htpasswd:    users,
		RequireAuth: true,
		Groups:      map[string][]string{"staff": {"alice"}},
	})
	if err != nil {
		panic(err)
	}

	proxy := func(w http.ResponseWriter, r *http.Request) {
		id, err := a.Identify(r)
		if authErr := (*identity.AuthError)(nil); errors.As(err, &authErr) {
			w.Header().Set("Proxy-Authenticate", a.Challenge())
			http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
			return
		} else if err != nil {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		a.Strip(r.Header)
		fmt.Fprintf(w, "%s from %v by %v in %v; Proxy-Authorization left: %q",
			id.User, id.ClientIP, id.Method, id.Groups, r.Header.Get("Proxy-Authorization"))
	}

	for _, password := range []string{"", "wrong", "secret"} {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
		if password != "" {
			r.SetBasicAuth("alice", password)
			r.Header["Proxy-Authorization"] = r.Header["Authorization"]
			delete(r.Header, "Authorization")
		}
		w := httptest.NewRecorder()
		proxy(w, r)
		fmt.Println(w.Code, w.Header().Get("Proxy-Authenticate"), w.Body.String())
	}
	// Output:
	// 407 Basic realm="Signpost", charset="UTF-8" proxy authentication required
	//
	// 407 Basic realm="Signpost", charset="UTF-8" proxy authentication required
	//
	// 200  alice from 192.0.2.1 by basic in [staff]; Proxy-Authorization left: ""
}
