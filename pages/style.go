package pages

import (
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// styleCSS is the pages' layout; its colours are CSS variables that
// stylesheet sets from the palettes below and the organisation's accent.
//
//go:embed assets/style.css
var styleCSS string

// rgb is a colour.
type rgb struct{ r, g, b uint8 }

// parseHex reads "#rrggbb".
func parseHex(s string) (rgb, error) {
	if len(s) != 7 || s[0] != '#' {
		return rgb{}, fmt.Errorf("found %q; expected a colour like %q", s, DefaultAccent)
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return rgb{}, fmt.Errorf("found %q; expected a colour like %q", s, DefaultAccent)
	}
	return rgb{uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
}

func mustHex(s string) rgb {
	c, err := parseHex(s)
	if err != nil {
		panic(err) // only for the palettes below, which a test covers
	}
	return c
}

func (c rgb) String() string { return fmt.Sprintf("#%02x%02x%02x", c.r, c.g, c.b) }

// luminance is the relative luminance of WCAG 2.
func (c rgb) luminance() float64 {
	ch := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(c.r) + 0.7152*ch(c.g) + 0.0722*ch(c.b)
}

// contrast is the WCAG 2 contrast ratio of a and b, from 1 to 21.
func contrast(a, b rgb) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// minContrast is what WCAG 2 AA asks of normal-size text.
const minContrast = 4.5

var (
	black = rgb{0, 0, 0}
	white = rgb{255, 255, 255}
)

// onColour is the text colour for a background: black or white, whichever
// contrasts more. One of them always reaches at least 4.58:1.
func onColour(bg rgb) rgb {
	if contrast(black, bg) >= contrast(white, bg) {
		return black
	}
	return white
}

// palette is one colour scheme. Every text colour is checked against every
// background it is drawn on (TestPaletteContrast).
type palette struct {
	bg, card, field         rgb // page, main card, text field
	fg, muted, link         rgb // text, secondary text, links
	line, lineStrong        rgb // separators; borders of buttons and fields
	notice, noticeLine      rgb // the notice box and its edge
	pending, approved, deny rgb // request state badges
}

var (
	light = palette{
		bg: mustHex("#f3f4f6"), card: mustHex("#ffffff"), field: mustHex("#ffffff"),
		fg: mustHex("#1b1f24"), muted: mustHex("#4f5761"), link: mustHex("#1d4fb8"),
		line: mustHex("#d5d9de"), lineStrong: mustHex("#6b7380"),
		notice: mustHex("#fff5e0"), noticeLine: mustHex("#a15c00"),
		pending: mustHex("#e8eefb"), approved: mustHex("#e3f4e8"), deny: mustHex("#fbe4e4"),
	}
	dark = palette{
		bg: mustHex("#111418"), card: mustHex("#1b1f25"), field: mustHex("#14171b"),
		fg: mustHex("#e8eaed"), muted: mustHex("#aab2bc"), link: mustHex("#8fb4ff"),
		line: mustHex("#2e343c"), lineStrong: mustHex("#8a929c"),
		notice: mustHex("#33290f"), noticeLine: mustHex("#e0a040"),
		pending: mustHex("#1e2a44"), approved: mustHex("#17321f"), deny: mustHex("#3d1d1d"),
	}
)

// textPairs lists, for a palette, each text colour with the backgrounds it
// is drawn on.
func (p palette) textPairs() map[string][2]rgb {
	return map[string][2]rgb{
		"fg on bg": {p.fg, p.bg}, "fg on card": {p.fg, p.card}, "fg on field": {p.fg, p.field},
		"fg on notice": {p.fg, p.notice}, "fg on pending": {p.fg, p.pending},
		"fg on approved": {p.fg, p.approved}, "fg on deny": {p.fg, p.deny},
		"muted on bg": {p.muted, p.bg}, "muted on card": {p.muted, p.card},
		"link on bg": {p.link, p.bg}, "link on card": {p.link, p.card}, "link on notice": {p.link, p.notice},
	}
}

// linkColour is the accent when it is readable on every background a link
// sits on, and the palette's own link colour otherwise.
func (p palette) linkColour(accent rgb) rgb {
	for _, bg := range []rgb{p.bg, p.card, p.notice} {
		if contrast(accent, bg) < minContrast {
			return p.link
		}
	}
	return accent
}

// vars writes the palette as CSS custom properties.
func (p palette) vars(accent rgb) string {
	var b strings.Builder
	for _, v := range []struct {
		name string
		c    rgb
	}{
		{"bg", p.bg}, {"card", p.card}, {"field", p.field},
		{"fg", p.fg}, {"muted", p.muted}, {"link", p.linkColour(accent)},
		{"line", p.line}, {"line-strong", p.lineStrong},
		{"notice", p.notice}, {"notice-line", p.noticeLine},
		{"pending", p.pending}, {"approved", p.approved}, {"denied", p.deny},
	} {
		fmt.Fprintf(&b, "--%s:%s;", v.name, v.c)
	}
	return b.String()
}

// stylesheet is the one stylesheet of every page: the colours for light
// and dark schemes, then the layout. Its SHA-256 goes into the CSP, so it
// must not vary between pages of one Renderer.
func stylesheet(accent rgb) string {
	return ":root{color-scheme:light dark;" + light.vars(accent) +
		"--accent:" + accent.String() + ";--on-accent:" + onColour(accent).String() + "}\n" +
		"@media (prefers-color-scheme:dark){:root{" + dark.vars(accent) + "}}\n" +
		styleCSS
}
