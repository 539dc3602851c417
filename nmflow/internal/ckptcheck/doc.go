// Package ckptcheck vets a GoMLX checkpoint folder before GoMLX reads it. GoMLX allocates each
// variable from the shape its .json claims before reading the data, so a damaged or hostile
// .json claiming Dimensions [2^31, 2^31] crashes the process (makeslice panic) or exhausts
// memory. Dir checks every claimed shape against its byte length and the machine's memory and
// returns an error naming the file instead.
package ckptcheck
