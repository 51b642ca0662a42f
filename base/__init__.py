"""The ground floor: what every stage shares and nothing of the project is below.

errors (bad input, exit codes, the command-line error wrapper), files (atomic writes, JSON lists),
fault_hook (the SIGKILL test hook), precision (the words for a numeric precision) and machine (the
processor's flags). None of these modules imports TensorFlow or another module of the project.
"""
