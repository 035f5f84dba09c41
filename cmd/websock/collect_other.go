//go:build !unix

package main

import "errors"

// askToCollect is not available without Unix signals.
func askToCollect(int) error { return errors.New("needs Unix signals") }
