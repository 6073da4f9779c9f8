/* embed — compiles a data file of the source tree (profiles/ YAML files) into the library as a
 * NUL-terminated string, with the assembler's .incbin. Paths are relative to the repository root,
 * where make runs the compiler; the Makefile makes the embedding objects depend on profiles/ YAML files.
 * That keeps the data plain YAML in the tree and needs no generator step. */
#ifndef AIRFACTORY_EMBED_H
#define AIRFACTORY_EMBED_H

#define EMBED(symbol, path)                                                                                            \
    __asm__(".pushsection .rodata\n"                                                                                   \
            ".global " #symbol "\n"                                                                                    \
            ".hidden " #symbol "\n" #symbol ":\n"                                                                      \
            ".incbin \"" path "\"\n"                                                                                   \
            ".byte 0\n"                                                                                                \
            ".popsection\n");                                                                                          \
    extern const char symbol[]

#endif
