package main

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// consolePage is the console: one HTML file whose style and script are
// inline, so that it needs nothing but the server it came from.
//
//go:embed console/index.html
var consolePage []byte

// consolePolicy lets the page run only its own inline style and script
// (by hash) and connect only to WebSocket URLs: no other scripts, styles,
// images, frames or form targets.
var consolePolicy = "default-src 'none'; " +
	"script-src " + inlineHashes(consolePage, "script") + "; " +
	"style-src " + inlineHashes(consolePage, "style") + "; " +
	"connect-src ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// consoleETag names this build's page, so that browsers revalidate cheaply.
var consoleETag = func() string {
	sum := sha256.Sum256(consolePage)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// consoleHandler serves the console page on / (GET and HEAD); every other
// path is 404.
func consoleHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", consolePolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", consoleETag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(consolePage))
	})
}

// inlineHashes returns the CSP sources ('sha256-…') of the contents of
// every <tag>…</tag> element in page, or 'none' if there is none.
func inlineHashes(page []byte, tag string) string {
	open, end := []byte("<"+tag+">"), []byte("</"+tag+">")
	var sources []string
	for {
		i := bytes.Index(page, open)
		if i < 0 {
			break
		}
		page = page[i+len(open):]
		j := bytes.Index(page, end)
		if j < 0 {
			break
		}
		sum := sha256.Sum256(page[:j])
		sources = append(sources, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		page = page[j+len(end):]
	}
	if len(sources) == 0 {
		return "'none'"
	}
	return strings.Join(sources, " ")
}
