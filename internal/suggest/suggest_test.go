package suggest

import "testing"

func TestNearest(t *testing.T) {
	words := []string{"listen", "admin_listen", "clients", "rules", "block", "allow"}
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"listn", 2, "listen"},
		{"rulez", 2, "rules"},
		{"blok", 2, "block"},
		{"xyzzy", 2, ""},
		{"allow", 0, "allow"},
		{"alow", 0, ""},
	}
	for _, tt := range tests {
		if got := Nearest(tt.s, words, tt.max); got != tt.want {
			t.Errorf("Nearest(%q, %d): got %q; want %q", tt.s, tt.max, got, tt.want)
		}
	}
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance(kitten, sitting): got %d; want 3", d)
	}
}
