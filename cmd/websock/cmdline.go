package main

import (
	"errors"
	"strings"
)

// splitCommand splits a command line into the program and its arguments the
// way a POSIX shell splits words, without running a shell: blanks separate
// words; 'single quotes' keep everything literally; "double quotes" keep
// everything but \" \\ \$ \` (backslash-escaped); outside quotes a
// backslash keeps the next character. Nothing is expanded: no variables,
// globs, pipes or redirections (write sh -c '...' for those).
func splitCommand(line string) ([]string, error) {
	var (
		words   []string
		word    strings.Builder
		inWord  bool
		quote   rune // 0, '\'' or '"'
		escaped bool
	)
	for _, r := range line {
		switch {
		case escaped:
			if quote == '"' && !strings.ContainsRune("\"\\$`", r) {
				word.WriteRune('\\')
			}
			word.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	switch {
	case escaped:
		return nil, errors.New("command line ends with a backslash")
	case quote != 0:
		return nil, errors.New("command line has an unclosed " + string(quote) + " quote")
	}
	if inWord {
		words = append(words, word.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command line")
	}
	return words, nil
}
