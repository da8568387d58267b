/* expat_loop: N iterations of parsing a 4 KiB XML document (elements, attributes,
 * character data) with Debian's static expat, counting what the handlers see, for the
 * mca cycle model's validation (benchmarks/uarch_validate.py). Added after the model's
 * mechanisms were fixed, so no choice was made on it: a held-out program. */
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOCUMENT 4096
#define RECORD_ROOM 128 /* bytes one record takes at most */

static unsigned long seen;

static void on_start(void *data, const XML_Char *name, const XML_Char **attributes)
{
    (void)data;
    seen += strlen(name);
    for (; *attributes; attributes += 2)
        seen += strlen(attributes[1]);
}

static void on_end(void *data, const XML_Char *name)
{
    (void)data;
    seen ^= (unsigned long)name[0];
}

static void on_text(void *data, const XML_Char *text, int length)
{
    (void)data;
    (void)text;
    seen += (unsigned long)length;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100;
    static char document[DOCUMENT];
    size_t at = (size_t)snprintf(document, DOCUMENT, "<log>");
    for (unsigned long id = 0; at + RECORD_ROOM < DOCUMENT; id++)
        at += (size_t)snprintf(document + at, DOCUMENT - at,
                               "<call id=\"%lu\" nr=\"%lu\"><arg>%lu</arg>&amp;done</call>\n",
                               id, id * 7 % 333, id * 2654435761UL % 100000);
    at += (size_t)snprintf(document + at, DOCUMENT - at, "</log>");
    for (long i = 0; i < n; i++) {
        XML_Parser parser = XML_ParserCreate(NULL);
        XML_SetElementHandler(parser, on_start, on_end);
        XML_SetCharacterDataHandler(parser, on_text);
        if (XML_Parse(parser, document, (int)at, 1) != XML_STATUS_OK)
            return 1;
        XML_ParserFree(parser);
    }
    printf("%lu\n", seen);
    return 0;
}
