package config

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// reader walks one file's YAML node tree strictly. yaml.v3's KnownFields
// does not reach into values decoded through Node.Decode, and the loader
// needs the line of every list item, so the schema is read by hand: every
// mapping names its keys, and anything else is an error with a line.
type reader struct {
	file string
	p    *problems
}

type field struct {
	name string
	read func(key, value *yaml.Node)
}

func (r *reader) errorf(n *yaml.Node, format string, args ...any) {
	r.p.add(r.file, n.Line, format, args...)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	default:
		return "a document"
	}
}

// noAlias refuses anchors' aliases: they make line numbers ambiguous and
// open the door to exponential expansion ("billion laughs").
func (r *reader) noAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		r.errorf(n, "found an alias (*%s); anchors and aliases are not supported, write the value out", n.Value)
		return false
	}
	return true
}

// mapping reads a mapping whose keys must be among fields. Unknown and
// repeated keys are errors. It returns false when n is not a mapping.
func (r *reader) mapping(n *yaml.Node, what string, fields []field) bool {
	if !r.noAlias(n) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		r.errorf(n, "found %s; expected %s (a mapping)", kindName(n), what)
		return false
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			r.errorf(k, "found %s as a key in %s; expected a name", kindName(k), what)
			continue
		}
		if k.Value == "<<" {
			r.errorf(k, "found a merge key (<<) in %s; merge keys are not supported", what)
			continue
		}
		if line, dup := seen[k.Value]; dup {
			r.errorf(k, "%s: key %q repeated (first at line %d)", what, k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		idx := -1
		for j, f := range fields {
			if f.name == k.Value {
				idx = j
				break
			}
		}
		if idx < 0 {
			r.errorf(k, "unknown key %q in %s%s; expected one of %s", k.Value, what,
				didYouMean(k.Value, names), strings.Join(sortedCopy(names), ", "))
			continue
		}
		if !r.noAlias(v) {
			continue
		}
		fields[idx].read(k, v)
	}
	return true
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// str reads a scalar as a string.
func (r *reader) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		r.errorf(n, "found %s for %s; expected a string", kindName(n), what)
		return "", false
	}
	return n.Value, true
}

func (r *reader) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		b, err := strconv.ParseBool(n.Value)
		if err == nil {
			return b, true
		}
	}
	r.errorf(n, "found %s for %s; expected true or false", kindName(n), what)
	return false, false
}

func (r *reader) integer(n *yaml.Node, what string, lo, hi int) (int, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		v, err := strconv.Atoi(n.Value)
		if err == nil && v >= lo && v <= hi {
			return v, true
		}
	}
	r.errorf(n, "found %s for %s; expected a whole number from %d to %d", kindName(n), what, lo, hi)
	return 0, false
}

func (r *reader) duration(n *yaml.Node, what string, lo, hi time.Duration) (time.Duration, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		d, err := time.ParseDuration(n.Value)
		if err == nil && d >= lo && d <= hi {
			return d, true
		}
	}
	r.errorf(n, "found %s for %s; expected a duration from %s to %s such as \"30s\" or \"8h\"", kindName(n), what, lo, hi)
	return 0, false
}

// item is a scalar value with its line.
type item struct {
	value string
	line  int
}

// strList reads a list of strings (a single string is accepted as a
// one-element list, a common slip that has only one meaning).
func (r *reader) strList(n *yaml.Node, what string) []item {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []item{{n.Value, n.Line}}
	}
	if n.Kind != yaml.SequenceNode {
		r.errorf(n, "found %s for %s; expected a list of strings", kindName(n), what)
		return nil
	}
	out := make([]item, 0, len(n.Content))
	for _, c := range n.Content {
		if !r.noAlias(c) {
			continue
		}
		if s, ok := r.str(c, what); ok {
			out = append(out, item{s, c.Line})
		}
	}
	return out
}

func (r *reader) list(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		r.errorf(n, "found %s for %s; expected a list", kindName(n), what)
		return nil
	}
	return n.Content
}

// prefixes reads a list of CIDR prefixes; a bare address means just that
// address.
func (r *reader) prefixes(n *yaml.Node, what string) []netip.Prefix {
	var out []netip.Prefix
	for _, it := range r.strList(n, what) {
		p, err := parsePrefix(it.value)
		if err != nil {
			r.p.add(r.file, it.line, "bad %s entry %q: expected a CIDR such as 10.0.0.0/8 or an address", what, it.value)
			continue
		}
		out = append(out, p)
	}
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
