#ifndef PARE_PARALLEL_H
#define PARE_PARALLEL_H

// Work split over oneDNN's OpenMP threads (libgomp), shared by the kernels in this target.

typedef void (*pare_range_fn)(void *context, long begin, long end);

// Calls fn(context, begin, end) on every OpenMP thread with an even share of [0, count).
void pare_parallel_for(pare_range_fn fn, void *context, long count);

// The number of threads pare_parallel_for runs on.
int pare_parallel_threads(void);

// Inside fn of pare_parallel_for: which of those threads runs it (0 ..< pare_parallel_threads()).
int pare_parallel_thread(void);

#endif
