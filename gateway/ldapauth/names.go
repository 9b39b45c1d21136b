package ldapauth

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// usernameRE is a conservative Unix login name (the hub runs jobs as this
// account on the cluster): a lower-case letter or underscore, then letters,
// digits, '_', '.', '-', at most 32 characters (useradd's limit). Nothing in
// it is special in LDAP filters or DNs, so escaping is a second line of
// defence, not the only one.
var usernameRE = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)

// NormalizeUsername returns the login name as the hub uses it (surrounding
// white space removed, lower case) and whether it is an acceptable name.
func NormalizeUsername(s string) (string, bool) {
	// Lower-case only ASCII: a Unicode letter whose lower case is ASCII
	// (the Kelvin sign K becomes k) must not turn into someone else's name.
	name := strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, strings.TrimSpace(s))
	if !usernameRE.MatchString(name) {
		return "", false
	}
	return name, true
}

// EscapeRDNValue escapes s for use as an attribute value in a DN string
// (RFC 4514 section 2.4): the characters `"+,;<>\=` get a backslash, so do
// leading and trailing spaces and a leading '#'; NUL, other control
// characters and bytes that are not valid UTF-8 are written as \XX.
// (ldap.EscapeDN leaves '=' and control characters alone and does not
// handle runs of trailing spaces.)
func EscapeRDNValue(s string) string {
	const hex = "0123456789ABCDEF"
	lead := len(s) - len(strings.TrimLeft(s, " "))
	trail := len(strings.TrimRight(s, " "))
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1, r < 0x20, r == 0x7f:
			for _, c := range []byte(s[i : i+size]) {
				b.WriteByte('\\')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			}
		case strings.ContainsRune(`"+,;<>\=`, r),
			r == ' ' && (i < lead || i >= trail),
			r == '#' && i == 0:
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// inAny reports whether any of dns equals any of set, comparing DNs as
// LDAP does (distinguishedNameMatch): attribute types and values without
// regard to case, spaces around separators ignored.
func inAny(dns, set []*ldap.DN) bool {
	for _, d := range dns {
		for _, s := range set {
			if d.EqualFold(s) {
				return true
			}
		}
	}
	return false
}
