// Package templates embeds the job scripts (jobs/) and the web pages and
// assets (web/, static/) so the hpcgate binary carries everything it needs.
// A site may override any file by pointing hub.templates_dir at a directory
// with the same layout.
package templates

import "embed"

// FS holds jobs/*.sh.tmpl, web/*.html and static/*.
//
//go:embed all:jobs all:web
var FS embed.FS
