/*
** threads.h -- the one thread knob: synlua's own parallel loops and
** OpenBLAS's pool are sized together, so two pools never spin on the same
** cores.
*/
#ifndef SY_THREADS_H
#define SY_THREADS_H

void sy_set_num_threads(int n);   /* n >= 1 */
int sy_get_num_threads(void);

#endif
