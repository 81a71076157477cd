/* A stand-in libnccl for collective's binding test (built by the test with
 * cc): the entry points jkonet-gpu calls, with NCCL's signatures, on host
 * memory. A communicator of nranks acts as if every rank held the caller's
 * buffer, so ncclAllReduce's sum is nranks times it; wrong arguments return
 * ncclInvalidArgument (4). A sum of HANG_COUNT values waits, as one whose
 * peer died would, until another thread calls ncclCommAbort, and then
 * returns ncclRemoteError (6). An init of HANG_RANKS ranks waits, as one
 * whose peer died after the rendezvous would, until the test calls
 * fakeReleaseInit, and then returns ncclRemoteError. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char internal[128]; } ncclUniqueId;
typedef struct { int nranks, rank; ncclUniqueId id; int aborted; } comm_t;

#define HANG_COUNT 12345
#define HANG_RANKS 4321

static int init_released;
void fakeReleaseInit(void) { __atomic_store_n(&init_released, 1, __ATOMIC_RELEASE); }

#ifndef FAKE_VERSION
#define FAKE_VERSION 22307
#endif
int ncclGetVersion(int *v) { *v = FAKE_VERSION; return 0; }

int ncclGetUniqueId(ncclUniqueId *id) {
  for (int i = 0; i < 128; i++) id->internal[i] = (char)(i * 3 + 1);
  return 0;
}

#ifndef NO_SCALABLE /* NCCL before 2.23 */
int ncclCommInitRankScalable(comm_t **comm, int nranks, int rank, int nId, ncclUniqueId *ids, void *config) {
  if (nranks < 1 || rank < 0 || rank >= nranks || nId != 1 || config != NULL) return 4;
  if (nranks == HANG_RANKS) {
    while (!__atomic_load_n(&init_released, __ATOMIC_ACQUIRE)) {
    }
    return 6;
  }
  for (int i = 0; i < 128; i++)
    if (ids->internal[i] != (char)(i * 3 + 1)) return 4;
  *comm = calloc(1, sizeof(comm_t));
  (*comm)->nranks = nranks;
  (*comm)->rank = rank;
  memcpy(&(*comm)->id, ids, sizeof *ids);
  return 0;
}
#endif

int ncclCommInitAll(comm_t **comms, int ndev, const int *devlist) {
  if (ndev != 1 || devlist[0] != 0) return 4;
  *comms = calloc(1, sizeof(comm_t));
  (*comms)->nranks = 1;
  return 0;
}

int ncclAllReduce(const void *send, void *recv, size_t count, int datatype, int op, comm_t *comm, void *stream) {
  if (datatype != 8 || op != 0 || stream != NULL || send != recv) return 4;
  if (count == HANG_COUNT) {
    while (!__atomic_load_n(&comm->aborted, __ATOMIC_ACQUIRE)) {
    }
    return 6;
  }
  for (size_t i = 0; i < count; i++) ((double *)recv)[i] = ((const double *)send)[i] * comm->nranks;
  return 0;
}

int ncclCommDestroy(comm_t *comm) { free(comm); return 0; }

/* NCCL frees an aborted communicator; the stand-in keeps it, so that the
 * waiting sum can still read its flag. */
int ncclCommAbort(comm_t *comm) { __atomic_store_n(&comm->aborted, 1, __ATOMIC_RELEASE); return 0; }

const char *ncclGetErrorString(int code) {
  switch (code) {
  case 4: return "invalid argument";
  case 6: return "remote process exited or there was a network error";
  }
  return "unhandled error";
}
