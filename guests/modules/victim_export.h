/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The symbols victim_export exports (GPL only), for
 * modules that reach it with symbol_get()/symbol_put() rather than by
 * linking against it (linking would make victim_export unremovable while
 * they are loaded: delete_module() fails with -EWOULDBLOCK as long as
 * another module uses one of its symbols).
 */
#ifndef MODRIG_VICTIM_EXPORT_H
#define MODRIG_VICTIM_EXPORT_H

struct module;

/* Counts calls; returns the count including this call. */
int victim_export_ping(void);

/* victim_export's own struct module (THIS_MODULE). */
struct module *victim_export_owner(void);

#endif /* MODRIG_VICTIM_EXPORT_H */
