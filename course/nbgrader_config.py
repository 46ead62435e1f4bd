"""nbgrader's settings for the medwb course (this folder is the course directory; release.py copies this
file into any other course directory it builds).

Run the standard nbgrader commands from the course directory, e.g. `nbgrader autograde 02_train_and_evaluate`.
"""

c = get_config()  # noqa: F821  (nbgrader provides get_config when it reads this file)

c.CourseDirectory.course_id = "medwb"
# one assignment per notebook of notebooks/ (the course's source), named after it: release.py copies each
# notebook to source/<name>/<name>.ipynb, the layout nbgrader expects
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
# A cleared solution leaves this comment, not nbgrader's default `raise NotImplementedError()`: every
# exercise starts from `answer_N = None` and its in-session check then says "not done yet", so a student's
# "Run All" goes top to bottom.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# training (notebook 02) and the cross-validated survival fits take longer than nbgrader's default 30 s a cell
c.Execute.timeout = 600
