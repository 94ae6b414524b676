/* links.h - the modules' links, set in one place: who hears the events
 * the lower modules emit, who runs the commands controllers send, how the
 * log follows a handle, what learns of signal counts.  The modules below
 * know none of these by name (see docs/design.md, "Layering"); main sets
 * them at start and after a re-exec, and the tests' worlds the same way. */
#ifndef LINKS_H
#define LINKS_H

void links_set(void);

#endif
