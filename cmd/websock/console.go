package main

import "net/http"

// consoleHandler serves the console page.
func consoleHandler() http.Handler { return http.NotFoundHandler() }
