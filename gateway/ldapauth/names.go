package ldapauth

import (
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"hpcgate/gateway"
)

// NormalizeUsername is the hub's one rule for user names
// (gateway.NormalizeUsername): a lower-case letter or underscore, then
// letters, digits, '_', '.', '-', at most 32 characters. Nothing in it is
// special in LDAP filters or DNs, so escaping is a second line of defence,
// not the only one.
func NormalizeUsername(s string) (string, bool) { return gateway.NormalizeUsername(s) }

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
